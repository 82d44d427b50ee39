/** `ambit uninstall [-y] [--purge]` (see install.ts). */
import { run as install } from './install.js';

export function run(args: string[]): Promise<number> {
  return install(args, 'uninstall');
}
