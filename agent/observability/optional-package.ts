/**
 * Imports an optional peer dependency (package.json's peerDependenciesMeta) when a feature that
 * needs it is configured. A production install leaves these packages out; an absent one is a
 * configuration problem (ConfigError, so the agent exits with EX_CONFIG at start-up) whose
 * message names the package to install.
 */
import { ConfigError, isPackageMissing } from '../../contracts/errors.js';

/**
 * Runs `load` (an `import()` of `pkg`) for `feature`, and returns the module once `isModule` accepts it. Throws
 * ConfigError when `pkg` is not installed, or does not look like itself; any other failure is rethrown.
 */
export async function importOptional<T>(
  pkg: string,
  feature: string,
  load: () => Promise<unknown>,
  isModule: (value: unknown) => value is T,
): Promise<T> {
  let loaded: unknown;
  try {
    loaded = await load();
  } catch (error) {
    if (!isPackageMissing(error, pkg)) throw error;
    throw new ConfigError([
      `${feature} needs the optional package ${pkg}, which is not installed: install ${pkg} to use it ` +
        `(npm install ${pkg} in the folder coraft is installed in)`,
    ]);
  }
  if (isModule(loaded)) return loaded;
  throw new ConfigError([`${feature}: the installed ${pkg} does not export what coraft uses`]);
}
