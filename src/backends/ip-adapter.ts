// IP-Adapters (`--ip-adapter ID --ip-image PATH [--ip-scale S]`): the image encoder beside the adapter file, in
// h94/IP-Adapter's layout (`models/ip-adapter_sd15.safetensors` + `models/image_encoder/`, `sdxl_models/...`, or
// `image_encoder/` one folder up).
import {existsSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {NotFoundError} from '../errors.js';

export interface IpAdapterSpec {
  id: string;
  /** The reference image (absolute path). */
  image: string;
  scale: number;
}

/** The `image_encoder/` folder (with a config.json) beside the adapter file or one level up; null when none. */
export function findImageEncoder(adapterFile: string): string | null {
  const here = dirname(adapterFile);
  for (const dir of [join(here, 'image_encoder'), join(dirname(here), 'image_encoder'), join(dirname(here), 'models', 'image_encoder')]) {
    if (existsSync(join(dir, 'config.json'))) return dir;
  }
  return null;
}

export function requireImageEncoder(adapterFile: string, id: string): string {
  const found = findImageEncoder(adapterFile);
  if (!found) throw new NotFoundError(`IP-Adapter ${id} has no image encoder beside it (an image_encoder/ folder as in h94/IP-Adapter)`, {hint: 'pull the adapter\'s whole repository layout, image_encoder/ included'});
  return found;
}
