/** What every feature module declares besides its routes: its OpenAPI tag and its error catalog. */
import type { ErrorCatalog } from '../lib/errors';

export type ModuleTag = Readonly<{ name: string; description: string }>;

export type ModuleInfo = Readonly<{
  /** The OpenAPI tag its routes carry. */
  tag: ModuleTag;
  /** Further tags it documents (e.g. Better-Auth's own endpoints, served by the auth module). */
  extraTags?: readonly ModuleTag[];
  /** The codes it answers beside COMMON_ERRORS. */
  errors: ErrorCatalog;
}>;
