import { MessageFlags, type ButtonInteraction } from 'discord.js';
import type { ResultInfo } from '../engine/protocol.ts';
import { PRESETS } from '../engine/presets.ts';
import type { StylizeSettings } from '../engine/types.ts';
import type { BotContext } from './bot.ts';
import { inputsExpiredMessage, randomSeed, recipeOf, type Recipe } from './job-images.ts';
import { parseRemixId, type JobAbout, type RemixAction, type RemixControls } from './job-messages.ts';
import { interactionEntry, runStylizeRequest } from './stylize-flow.ts';
import { limitsFor, nextSize, type ServerLimits } from './stylize-options.ts';

/**
 * The remix buttons under every finished result (🎲 Again, ➕ Stronger, ➖ Softer, 🎨 Keep colours, ⬆️ Bigger):
 * what each one changes, and a press. A press is a new job of the presser's own (their limits, caps and Cancel),
 * made from the result's kept inputs (kept-inputs.ts) with that one change, and posted as a new public message
 * that links to the result it came from.
 */

/** How much noise 🎲 Again mixes into the start when the result started from the photo itself. */
export const AGAIN_NOISE = 0.3;

/** How far one press of ➕ Stronger or ➖ Softer moves the strength (0-100). */
export const STRENGTH_STEP = 10;

/**
 * The one rule of ➕ Stronger and ➖ Softer: the settings one step stronger or softer, or undefined when there is
 * no further step. Steps the strength by STRENGTH_STEP within 0..100; raw style weights, if the user set them,
 * are kept, since strength scales whatever weights ran.
 */
export function nextStrength(
  settings: Partial<StylizeSettings>,
  direction: 'stronger' | 'softer',
): Partial<StylizeSettings> | undefined {
  const current = settings.strength ?? PRESETS.default.strength;
  const next = Math.min(100, Math.max(0, current + (direction === 'stronger' ? STRENGTH_STEP : -STRENGTH_STEP)));
  // Strength 0 is the photo itself: the softest step that still stylizes is one step above it.
  if (next === current || next <= 0) return undefined;
  return { ...settings, strength: next };
}

/** How the buttons of a result look, from the settings that ran; undefined when its inputs were not kept. */
export function remixControls(jobId: string, result: ResultInfo, about: JobAbout | undefined): RemixControls | undefined {
  if (!about?.remix) return undefined;
  return {
    jobId,
    canStrengthen: nextStrength(result.settings, 'stronger') !== undefined,
    canSoften: nextStrength(result.settings, 'softer') !== undefined,
    colorsKept: result.settings.colors !== 'none',
    biggerSize: about.remix.biggerSize,
  };
}

/** The recipe with one change, within the presser's server caps; a string says privately why not. */
export function remixRecipe(recipe: Recipe, action: RemixAction, limits: ServerLimits): Recipe | string {
  const base: Recipe = {
    ...recipe,
    size: Math.min(recipe.size, limits.maxSize),
    iterations: Math.min(recipe.iterations, limits.maxIterations),
  };
  const settings = { ...recipe.settings };
  switch (action) {
    case 'again':
      settings.seed = randomSeed();
      // From the photo itself the seed changes nothing; a little noise at the start lets it.
      if (settings.init !== 'noise' || !settings.noiseRatio) Object.assign(settings, { init: 'noise', noiseRatio: AGAIN_NOISE });
      return { ...base, settings };
    case 'stronger':
    case 'softer': {
      const stepped = nextStrength(settings, action);
      if (!stepped) return `This result already has the ${action === 'stronger' ? 'strongest' : 'softest'} style I can make.`;
      return { ...base, settings: { ...settings, ...stepped } };
    }
    case 'colors':
      if (settings.colors && settings.colors !== 'none') delete settings.colors;
      else settings.colors = 'luminance';
      return { ...base, settings };
    case 'bigger': {
      const size = nextSize(recipe.size, limits.maxSize);
      if (size === undefined) return `This result is already the largest size allowed here (${limits.maxSize} px).`;
      return { ...base, size };
    }
  }
}

const ACTION_LABEL: Record<RemixAction, string> = {
  again: '🎲 Again',
  stronger: '➕ Stronger',
  softer: '➖ Softer',
  colors: '🎨 Colours',
  bigger: '⬆️ Bigger',
};

/** A remix button: anyone may press it; the job is theirs. */
export async function handleRemixButton(interaction: ButtonInteraction, context: BotContext): Promise<void> {
  const parsed = parseRemixId(interaction.customId);
  const recipe = parsed && recipeOf(context.kept.recipe(parsed.jobId));
  const where = { interaction: interaction.id, userId: interaction.user.id, source: parsed?.jobId, action: parsed?.action };
  if (!parsed || !recipe) {
    context.logger.info(where, 'remix of inputs no longer kept');
    await interaction.reply({ content: inputsExpiredMessage(context.config), flags: MessageFlags.Ephemeral });
    return;
  }
  const guildId = interaction.guildId ?? undefined;
  const changed = remixRecipe({ ...recipe, guildId }, parsed.action, limitsFor(context.config, guildId));
  if (typeof changed === 'string') {
    context.logger.info({ ...where, reason: changed }, 'remix refused');
    await interaction.reply({ content: changed, flags: MessageFlags.Ephemeral });
    return;
  }
  const link = `https://discord.com/channels/${guildId ?? '@me'}/${interaction.channelId}/${interaction.message.id}`;
  const heading = `${ACTION_LABEL[parsed.action]} · remix of ${link} for <@${interaction.user.id}>`;
  await runStylizeRequest(interactionEntry(interaction), changed, { heading }, context);
}
