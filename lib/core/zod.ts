/**
 * zod for the code every function loads at cold start (config, names, replication rules, tasks, S3
 * notifications): `zod/mini`, the functional API over the same core, instead of classic `zod`.
 *
 * Why: a classic schema gets some sixty methods attached when it is built and every chained call
 * (`.min().max().default()`) builds another one, so the config schema alone cost a handler tens of
 * milliseconds of its init, and classic's methods pull zod's JSON Schema code into every bundle
 * (docs/performance.md#cold-starts). Schemas parse and fail exactly alike: they are the same core.
 *
 * `zod/mini` leaves out zod's English messages unless asked; they are the messages users and tests
 * read (`Invalid option: expected one of "mirror"|"retain"`), so they are set here, once, before any
 * schema parses: import `* as z` from this module, never from `zod/mini` directly. Classic `zod` sets
 * the same locale on the same global configuration, so a bundle holding both says the same.
 */
import { en } from 'zod/locales';
import { config } from 'zod/mini';

config(en());

export * from 'zod/mini';
