import type { Attachment, ChatInputCommandInteraction } from 'discord.js';
import type { AttachmentInfo, RawStylizeOptions } from './stylize-request.ts';

/** The /stylize options as Discord sent them, unchecked. */
export function readStylizeOptions(interaction: ChatInputCommandInteraction): RawStylizeOptions {
  const o = interaction.options;
  const attachment = (name: string): AttachmentInfo | null => toInfo(o.getAttachment(name));
  return {
    content: attachment('content'),
    style: attachment('style'),
    style2: attachment('style2'),
    style3: attachment('style3'),
    contentWeight: o.getNumber('content_weight'),
    styleWeight: o.getNumber('style_weight'),
    tvWeight: o.getNumber('tv_weight'),
    iterations: o.getInteger('iterations'),
    size: o.getInteger('size'),
    styleBlend: o.getString('style_blend'),
    styleScale: o.getNumber('style_scale'),
    preserveColors: o.getBoolean('preserve_colors'),
    seed: o.getInteger('seed'),
  };
}

function toInfo(attachment: Attachment | null): AttachmentInfo | null {
  if (!attachment) return null;
  return {
    url: attachment.url,
    name: attachment.name,
    size: attachment.size,
    contentType: attachment.contentType,
    width: attachment.width,
    height: attachment.height,
  };
}
