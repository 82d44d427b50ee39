/**
 * `ambit lab app bookinfo <productpage|details|reviews|ratings> [--version v1|v2|v3]
 * [--port 9080]`: the built-in bookinfo services behind Istio's sample images
 * (registry.istio.io/release/examples-bookinfo-<service>-<version>).
 */
import { AmbitError } from '../../../errors.js';
import { stopSignal } from '../../../daemon.js';
import { intFlag, parseFlags } from '../../../flags.js';
import { createLogger } from '../../../log.js';
import { detailsHandler } from './details.js';
import { serve, type Handler } from './http.js';
import { productpageHandler } from './productpage.js';
import { ratingsHandler } from './ratings.js';
import { reviewsHandler, type ReviewsVersion } from './reviews.js';

export const BOOKINFO_SERVICES = ['productpage', 'details', 'reviews', 'ratings'] as const;
export type BookinfoService = (typeof BOOKINFO_SERVICES)[number];

export function bookinfoHandler(service: string, version: string): Handler {
  switch (service) {
    case 'productpage':
      return productpageHandler();
    case 'details':
      return detailsHandler;
    case 'ratings':
      return ratingsHandler;
    case 'reviews':
      if (version !== 'v1' && version !== 'v2' && version !== 'v3')
        throw new AmbitError('LAB_BAD_APP_ARG', `reviews version ${JSON.stringify(version)}`, {
          value: version,
          hint: 'one of v1, v2, v3',
        });
      return reviewsHandler(version as ReviewsVersion);
    default:
      throw new AmbitError(
        'LAB_UNKNOWN_APP',
        `unknown bookinfo service ${JSON.stringify(service)}`,
        {
          value: service,
          hint: `one of ${BOOKINFO_SERVICES.join(', ')}`,
        },
      );
  }
}

export async function runBookinfo(args: string[]): Promise<number> {
  const f = parseFlags(args);
  const service = f.positional[0] ?? '';
  const version = f.values.get('version') ?? 'v1';
  const handler = bookinfoHandler(service, version);
  const log = createLogger(`bookinfo-${service}`);
  const srv = await serve(f.values.get('host') ?? '0.0.0.0', intFlag(f, 'port', 9080), handler);
  log.info('listening', { port: srv.port, version });
  await stopSignal();
  await srv.close();
  return 0;
}
