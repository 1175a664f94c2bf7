// The drivers faasd can run functions with. Every other module asks this list (or the
// manager built from it) which modes exist; adding a driver is one folder under drivers/ and
// one line here (docs/drivers.md).
import type { DriverFactory } from '../driver.js';
import { containerDriver } from './container/index.js';
import { processDriver } from './process/index.js';

export const BUILTIN_DRIVERS: readonly DriverFactory[] = [processDriver, containerDriver];
