/** `ambit manifest generate [--set k=v]…`: the install manifests as YAML (see install.ts). */
import { AmbitError } from '../errors.js';
import { run as install, USAGE } from './install.js';

export { USAGE };

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'generate') {
    throw new AmbitError('CLI_USAGE', `unknown manifest command ${JSON.stringify(sub ?? '')}`, {
      value: sub,
      hint: 'ambit manifest generate [--set key=value]...',
    });
  }
  return install(rest, 'manifest');
}
