// Whether a system command exists, without running it.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export function hasCommand(cmd: string, path = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'): boolean {
  return path.split(delimiter).some((d) => {
    try {
      accessSync(join(d, cmd), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
