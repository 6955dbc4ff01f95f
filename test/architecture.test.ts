import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './helpers/shared-data.ts';

/**
 * The layering the design promises, read from the source: which modules load which at run time (`import type` is
 * erased and does not count; `import { type X }` still loads the module under verbatimModuleSyntax).
 */

const COMPUTE_PACKAGES = /^(@tensorflow\/|onnxruntime-node|h5wasm)/;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return /\.ts$/.test(name) ? [full] : [];
  });
}

/** Runtime imports of one file: resolved paths for relative ones, package names for the rest. */
function runtimeImports(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const specifiers: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && !node.importClause?.isTypeOnly) {
      specifiers.push((node.moduleSpecifier as ts.StringLiteral).text);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && !node.isTypeOnly) {
      specifiers.push((node.moduleSpecifier as ts.StringLiteral).text);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      specifiers.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return specifiers.map((s) => (s.startsWith('.') ? path.resolve(path.dirname(file), s) : s));
}

const files = [...sourceFiles(path.join(REPO_ROOT, 'src')), ...sourceFiles(path.join(REPO_ROOT, 'commands'))];
const graph = new Map(files.map((file) => [file, runtimeImports(file)]));
const rel = (file: string) => path.relative(REPO_ROOT, file);

/** Every module `entry` loads, directly or not. */
function reachable(entries: string[]): Set<string> {
  const seen = new Set<string>();
  const stack = [...entries];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const next of graph.get(file) ?? []) if (next.startsWith('/')) stack.push(next);
  }
  return seen;
}

describe('architecture', () => {
  it('the bot process never loads a compute library: the engine runs in worker processes', () => {
    const entries = [path.join(REPO_ROOT, 'src/bot/main.ts'), ...sourceFiles(path.join(REPO_ROOT, 'commands'))];
    const loaded = reachable(entries);
    expect(loaded.size).toBeGreaterThan(10);
    const offending = [...loaded].flatMap((file) =>
      (graph.get(file) ?? []).filter((s) => COMPUTE_PACKAGES.test(s)).map((s) => `${rel(file)} → ${s}`),
    );
    expect(offending).toEqual([]);
  });

  it('dependencies point one way: bot → queue → engine; the lower layers know nothing above them', () => {
    const layer = (file: string) => rel(file).split(path.sep).slice(0, 2).join('/');
    const forbidden: Record<string, string[]> = {
      'src/engine': ['src/bot', 'src/queue', 'src/cli', 'commands'],
      'src/queue': ['src/bot', 'src/cli', 'commands'],
      'src/images': ['src/bot', 'src/queue', 'src/engine', 'src/cli'],
      'src/weights': ['src/bot', 'src/queue', 'src/engine', 'src/cli'],
      'src/config': ['src/bot', 'src/queue', 'src/engine', 'src/cli'],
    };
    const violations: string[] = [];
    for (const [file, imports] of graph) {
      const banned = forbidden[layer(file)] ?? [];
      for (const target of imports) {
        if (target.startsWith('/') && banned.some((b) => rel(target).startsWith(b))) {
          violations.push(`${rel(file)} → ${rel(target)}`);
        }
      }
    }
    expect(violations).toEqual([]);
  });

  it('has no import cycles', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const walk = (file: string, trail: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'visiting') {
        cycles.push([...trail.slice(trail.indexOf(file)), file].map(rel).join(' → '));
        return;
      }
      state.set(file, 'visiting');
      for (const next of graph.get(file) ?? []) if (graph.has(next)) walk(next, [...trail, file]);
      state.set(file, 'done');
    };
    for (const file of graph.keys()) walk(file, []);
    expect(cycles).toEqual([]);
  });

  it('test-only helpers live in test/, not in src/', () => {
    const exported = files.flatMap((file) =>
      /export (function|const|class) (memoryDestination|makeTiny|fake)/i.test(readFileSync(file, 'utf8')) ? [rel(file)] : [],
    );
    expect(exported).toEqual([]);
  });
});
