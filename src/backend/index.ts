// Which kernel table the ops call. The JS reference is always there; faster backends replace it as a whole.
import { jsKernels } from './js/index.ts';
import type { Kernels } from './kernels.ts';
import { nativeKernels } from './native/index.ts';

// In order of preference, fastest last: kernels() picks the last one that loads.
const registry = new Map<string, () => Kernels | null>([
  ['js', () => jsKernels],
  ['native', nativeKernels],
]);
let active: Kernels | null = null;

/** Makes a backend selectable by name; `load` returns null (after warning) when it cannot run here. */
export function registerBackend(name: string, load: () => Kernels | null): void {
  registry.set(name, load);
}

export function setBackend(name: string): Kernels {
  const load = registry.get(name);
  if (!load) throw new Error(`unknown backend "${name}" (known: ${[...registry.keys()].join(', ')})`);
  const kernels = load();
  if (!kernels) throw new Error(`backend "${name}" is not available on this machine`);
  active = kernels;
  return kernels;
}

/** The kernels ops run on: RESNET_BACKEND if set, else the fastest registered backend that loads. */
export function kernels(): Kernels {
  if (active) return active;
  const wanted = process.env.RESNET_BACKEND;
  if (wanted) return setBackend(wanted);
  active = [...registry.values()].reverse().reduce<Kernels | null>((found, load) => found ?? load(), null) ?? jsKernels;
  return active;
}
