// The control for the shield's event-loop delay: a process that does nothing but measure its own loop, on the same
// overloaded machine. What it sees is the machine (CPU contention, scheduling), so the shield's figure is read
// against it. Answers { type: 'stats' } like the shield child.
import { monitorEventLoopDelay } from 'node:perf_hooks';

const eld = monitorEventLoopDelay({ resolution: 10 });
eld.enable();
process.on('message', (m: { type: string }) => {
  if (m.type === 'reset-eld') eld.reset();
  if (m.type === 'stats')
    process.send?.({ type: 'stats', eldP99Ms: eld.percentile(99) / 1e6, eldMaxMs: eld.max / 1e6 });
});
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready' });
