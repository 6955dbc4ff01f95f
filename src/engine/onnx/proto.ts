import protobuf from 'protobufjs/light.js';

/**
 * Writes ONNX models (ModelProto bytes) from TypeScript, so that graphs are built at run time from the loaded
 * weights and no generated model file ships.
 *
 * The schema is the subset of onnx.proto (proto2, package onnx) that a float32 inference graph needs, declared
 * through protobufjs' reflection API; field numbers are those of onnx.proto. protobufjs does the wire format
 * (varints, packed repeated fields, int64, nested lengths), which a hand-written writer would have to get right
 * again for no gain in size or clarity.
 */

const root = protobuf.Root.fromJSON({
  nested: {
    onnx: {
      nested: {
        ModelProto: {
          fields: {
            irVersion: { type: 'int64', id: 1 },
            producerName: { type: 'string', id: 2 },
            producerVersion: { type: 'string', id: 3 },
            docString: { type: 'string', id: 6 },
            graph: { type: 'GraphProto', id: 7 },
            opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
          },
        },
        OperatorSetIdProto: {
          fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } },
        },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
            domain: { type: 'string', id: 7 },
          },
        },
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            t: { type: 'TensorProto', id: 5 },
            ints: { rule: 'repeated', type: 'int64', id: 8, options: { packed: false } },
            type: { type: 'int32', id: 20 },
          },
        },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1, options: { packed: false } },
            dataType: { type: 'int32', id: 2 },
            name: { type: 'string', id: 8 },
            rawData: { type: 'bytes', id: 9 },
          },
        },
        ValueInfoProto: {
          fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 } },
        },
        TypeProto: {
          fields: { tensorType: { type: 'TypeProtoTensor', id: 1 } },
        },
        TypeProtoTensor: {
          fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } },
        },
        TensorShapeProto: {
          fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } },
        },
        Dimension: {
          oneofs: { value: { oneof: ['dimValue', 'dimParam'] } },
          fields: { dimValue: { type: 'int64', id: 1 }, dimParam: { type: 'string', id: 2 } },
        },
      },
    },
  },
});

const ModelProto = root.lookupType('onnx.ModelProto');
const GraphProto = root.lookupType('onnx.GraphProto');
const TensorProto = root.lookupType('onnx.TensorProto');

/** TensorProto.DataType values. */
export const DataType = { FLOAT: 1, INT64: 7, BOOL: 9 } as const;
type ElemType = (typeof DataType)[keyof typeof DataType];

/** AttributeProto.AttributeType values. */
const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;

/**
 * Node attributes: an integer is INT, an array of integers INTS, a string STRING; `{ float: x }` is FLOAT (ONNX
 * tells them apart, JavaScript numbers do not).
 */
export type AttributeValue = number | readonly number[] | string | { float: number };

/** A dimension: a fixed size, or a name for a size known only at run time. */
export type Dim = number | string;

interface Node {
  input: string[];
  output: string[];
  name: string;
  opType: string;
  attribute: object[];
}

/**
 * Collects the nodes, initializers, inputs and outputs of one ONNX graph and encodes it as a ModelProto. Value
 * names are generated (`name_N`) unless given, so a graph reads as plain function calls:
 * `const y = g.op('Relu', [x])`.
 */
export class GraphBuilder {
  readonly #nodes: Node[] = [];
  readonly #initializers: { name: string; dims: number[]; dataType: ElemType; rawData: Uint8Array }[] = [];
  readonly #inputs: object[] = [];
  readonly #outputs: object[] = [];
  readonly #names = new Set<string>();
  readonly #scalars = new Map<string, string>();
  #counter = 0;

  constructor(readonly name: string) {}

  /** A fresh value name with the given stem. */
  fresh(stem: string): string {
    let name: string;
    do name = `${stem}_${this.#counter++}`;
    while (this.#names.has(name));
    this.#names.add(name);
    return name;
  }

  #claim(name: string): string {
    if (this.#names.has(name)) throw new Error(`ONNX graph ${this.name}: the name ${name} is used twice`);
    this.#names.add(name);
    return name;
  }

  input(name: string, dims: readonly Dim[], elemType: ElemType = DataType.FLOAT): string {
    this.#inputs.push(valueInfo(this.#claim(name), dims, elemType));
    return name;
  }

  /** Declares `value` a graph output under `name` (an Identity node renames it when the names differ). */
  output(value: string, name: string, dims: readonly Dim[], elemType: ElemType = DataType.FLOAT): string {
    if (value !== name) this.#node('Identity', [value], [this.#claim(name)], {});
    this.#outputs.push(valueInfo(name, dims, elemType));
    return name;
  }

  /** A float32 initializer. Its bytes are referenced, not copied, until encode(). */
  floats(stem: string, dims: readonly number[], data: Float32Array): string {
    if (data.length !== dims.reduce((a, b) => a * b, 1)) {
      throw new Error(`ONNX graph ${this.name}: ${stem} has ${data.length} values for dims [${dims.join(', ')}]`);
    }
    return this.#initializer(stem, dims, DataType.FLOAT, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }

  /** An int64 initializer (shapes, axes, pads, slice bounds): 1-D, or a scalar when `scalar` is set. */
  ints(stem: string, values: readonly number[], scalar = false): string {
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    return this.#initializer(stem, scalar ? [] : [values.length], DataType.INT64, new Uint8Array(data.buffer));
  }

  /** A float32 scalar constant, shared by every use of the same value. */
  scalar(value: number): string {
    const key = Object.is(value, -0) ? '-0' : String(value);
    let name = this.#scalars.get(key);
    if (name === undefined) {
      name = this.#initializer('const', [], DataType.FLOAT, new Uint8Array(Float32Array.of(value).buffer));
      this.#scalars.set(key, name);
    }
    return name;
  }

  #initializer(stem: string, dims: readonly number[], dataType: ElemType, rawData: Uint8Array): string {
    const name = this.fresh(stem);
    this.#initializers.push({ name, dims: [...dims], dataType, rawData });
    return name;
  }

  /** Adds a node with one output and returns the output's name. */
  op(opType: string, inputs: readonly string[], attributes: Record<string, AttributeValue> = {}): string {
    const [output] = this.opN(opType, inputs, 1, attributes);
    return output!;
  }

  /** Adds a node with `count` outputs and returns their names. */
  opN(opType: string, inputs: readonly string[], count: number, attributes: Record<string, AttributeValue> = {}) {
    const outputs = Array.from({ length: count }, () => this.fresh(opType.toLowerCase()));
    this.#node(opType, inputs, outputs, attributes);
    return outputs;
  }

  #node(opType: string, inputs: readonly string[], outputs: string[], attributes: Record<string, AttributeValue>) {
    this.#nodes.push({
      input: [...inputs],
      output: outputs,
      name: `${opType}_${this.#nodes.length}`,
      opType,
      attribute: Object.entries(attributes).map(([name, value]) => attribute(name, value)),
    });
  }

  /** Node count by op type (for logs and tests). */
  opCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const node of this.#nodes) counts[node.opType] = (counts[node.opType] ?? 0) + 1;
    return counts;
  }

  /**
   * The ModelProto bytes: IR version 8, default-domain opset 17.
   *
   * protobufjs writes everything but the initializers' raw data; those bytes, nearly all of a model, are copied
   * once into a buffer of the exact size. (protobufjs alone grows its buffer by doubling and copies on the way:
   * about three times the weights at the peak, 150 MB for VGG19 to block5_conv1.) A message's fields may come in
   * any order, so each TensorProto is its header fields followed by raw_data, and the ModelProto its small fields
   * followed by the graph.
   */
  encode(): Uint8Array {
    const graph: Uint8Array[] = [
      GraphProto.encode(
        GraphProto.fromObject({ name: this.name, node: this.#nodes, input: this.#inputs, output: this.#outputs }),
      ).finish(),
    ];
    for (const { rawData, ...header } of this.#initializers) {
      const head = TensorProto.encode(TensorProto.fromObject(header)).finish();
      const rawField = [lengthKey(TENSOR_RAW_DATA), varint(rawData.length)];
      graph.push(lengthKey(GRAPH_INITIALIZER), varint(byteLength([head, ...rawField]) + rawData.length));
      graph.push(head, ...rawField, rawData);
    }
    const head = ModelProto.encode(
      ModelProto.fromObject({ irVersion: 8, producerName: 'stylebot', opsetImport: [{ domain: '', version: OPSET }] }),
    ).finish();
    const parts = [head, lengthKey(MODEL_GRAPH), varint(byteLength(graph)), ...graph];
    const bytes = new Uint8Array(byteLength(parts));
    let offset = 0;
    for (const part of parts) {
      bytes.set(part, offset);
      offset += part.length;
    }
    return bytes;
  }
}

// Field numbers of onnx.proto, for the fields written by hand in encode().
const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const TENSOR_RAW_DATA = 9;

const byteLength = (parts: readonly Uint8Array[]) => parts.reduce((sum, part) => sum + part.length, 0);

/** The key of a length-delimited field (wire type 2). */
const lengthKey = (field: number) => varint(field * 8 + 2);

function varint(value: number): Uint8Array {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Uint8Array.from(bytes);
}

export const OPSET = 17;

function valueInfo(name: string, dims: readonly Dim[], elemType: ElemType): object {
  const dim = dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

function attribute(name: string, value: AttributeValue): object {
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`attribute ${name}: ${value} is not an integer; use { float }`);
    return { name, type: AttributeType.INT, i: value };
  }
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: [...(value as readonly number[])] };
  return { name, type: AttributeType.FLOAT, f: (value as { float: number }).float };
}

/** Decodes ModelProto bytes back to a plain object (for tests and debugging). */
export function decodeModel(bytes: Uint8Array): Record<string, unknown> {
  return ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, bytes: Array, defaults: false });
}
