// The one owner of capture lifetimes. Every command a session emits passes through here on its way to the driver, and
// so do the driver's own ends (shutdown, idle timeout, a vanished leg). A capture is discarded exactly once: a session
// that says `capture-discard` twice (or for a capture it never started) is filtered, and whatever is still live when
// the session closes both legs, or the connection ends, is discarded here. Sessions still say when they are done with a
// capture, because only they know; they no longer have to remember to sweep. Pure.
import type { SessionCommand } from './session.js';

export class CaptureRegistry {
  private readonly live = new Set<number>();

  /** Captures started and not yet discarded. */
  get size(): number {
    return this.live.size;
  }

  has(id: number): boolean {
    return this.live.has(id);
  }

  /** Passes commands on, dropping repeated discards and sweeping live captures when both legs close. */
  filter(cmds: SessionCommand[]): SessionCommand[] {
    const out: SessionCommand[] = [];
    for (const c of cmds) {
      if (c.type === 'capture-start') this.live.add(c.id);
      else if (c.type === 'capture-discard' && !this.live.delete(c.id)) continue;
      else if (c.type === 'close' && c.leg === 'both') out.push(...this.discardAll());
      out.push(c);
    }
    return out;
  }

  /** Discards for every live capture (the session or the connection is over). */
  discardAll(): SessionCommand[] {
    const out: SessionCommand[] = [...this.live].map((id) => ({ type: 'capture-discard', id }) as const);
    this.live.clear();
    return out;
  }
}
