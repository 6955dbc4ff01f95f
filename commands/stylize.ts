import { InteractionContextType, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import type { Config } from '../src/config/index.ts';
import type { BotContext } from '../src/bot/bot-context.ts';
import { runStylizeCommand } from '../src/bot/stylize-command.ts';
import { OPTION_BOUNDS } from '../src/bot/stylize-request.ts';

export function data(config: Config) {
  const sizes = OPTION_BOUNDS.sizes.filter((s) => s <= config.images.maxSize);
  const b = OPTION_BOUNDS;
  return new SlashCommandBuilder()
    .setName('stylize')
    .setDescription('Repaint a photo in the style of an artwork')
    .setContexts(InteractionContextType.Guild)
    .addAttachmentOption((o) => o.setName('content').setDescription('The photo to repaint').setRequired(true))
    .addAttachmentOption((o) => o.setName('style').setDescription('The artwork whose style to use').setRequired(true))
    .addAttachmentOption((o) => o.setName('style2').setDescription('A second artwork to blend in'))
    .addAttachmentOption((o) => o.setName('style3').setDescription('A third artwork to blend in'))
    .addIntegerOption((o) =>
      o
        .setName('size')
        .setDescription(`Long side of the result in pixels (default ${config.images.defaultSize})`)
        .addChoices(...sizes.map((s) => ({ name: `${s} px`, value: s }))),
    )
    .addIntegerOption((o) =>
      o
        .setName('iterations')
        .setDescription('More iterations: more style, more time')
        .setMinValue(1)
        .setMaxValue(config.jobs.maxIterations),
    )
    .addNumberOption((o) =>
      o
        .setName('content_weight')
        .setDescription('How strongly to keep the photo’s content')
        .setMinValue(b.contentWeight.min)
        .setMaxValue(b.contentWeight.max),
    )
    .addNumberOption((o) =>
      o
        .setName('style_weight')
        .setDescription('How strongly to apply the artwork’s style')
        .setMinValue(b.styleWeight.min)
        .setMaxValue(b.styleWeight.max),
    )
    .addNumberOption((o) =>
      o
        .setName('tv_weight')
        .setDescription('Smoothness: higher removes noise, lower keeps detail')
        .setMinValue(b.tvWeight.min)
        .setMaxValue(b.tvWeight.max),
    )
    .addStringOption((o) =>
      o
        .setName('style_blend')
        .setDescription('Blend weights of the style images, e.g. 1,1,2')
        .setMaxLength(40),
    )
    .addNumberOption((o) =>
      o
        .setName('style_scale')
        .setDescription('Size of the style’s brush strokes relative to the result (default 1)')
        .setMinValue(b.styleScale.min)
        .setMaxValue(b.styleScale.max),
    )
    .addBooleanOption((o) => o.setName('preserve_colors').setDescription('Keep the photo’s original colours'))
    .addIntegerOption((o) =>
      o.setName('seed').setDescription('Same seed, same result').setMinValue(b.seed.min).setMaxValue(b.seed.max),
    );
}

export async function execute(interaction: ChatInputCommandInteraction, context: BotContext): Promise<void> {
  await runStylizeCommand(interaction, context);
}
