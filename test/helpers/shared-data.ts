import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * The team's shared data (real VGG19 weights, test images) lives beside the checkout in ../shared and is never
 * committed. STYLEBOT_SHARED_DIR points elsewhere when the checkout is not next to it. Tests that need it skip
 * when it is absent.
 */
export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
export const SHARED_DIR = process.env.STYLEBOT_SHARED_DIR ?? path.resolve(REPO_ROOT, '../shared');
export const SHARED_VGG19 = path.join(SHARED_DIR, 'vgg19-uint8');
export const SHARED_IMAGES = path.join(SHARED_DIR, 'images');
export const hasSharedVgg19 = existsSync(path.join(SHARED_VGG19, 'model.json'));
