// The ordered output of one leg. IMAP responses must reach the client in the order the server sent them, but some
// cannot be sent yet: a FETCH response whose message is being scanned, an APPEND that waits for its verdict. Output is
// kept as a list of groups, one per response or command. A group with an unresolved *hold* slot is kept back as a
// whole, and so is everything after it; once its holds resolve it streams in order. A *gate* slot stops output only
// from its own position (an upstream APPEND waiting for the server's continuation request).
//
// Holding a whole group, and not just the bytes from the slot on, keeps the output at a response boundary while a
// scan runs, which is what lets the session send `* OK` keepalives in the meantime.
import type { SessionCommand } from '../../core/session.js';

export class Slot {
  resolved: SessionCommand[] | null = null;
  constructor(
    readonly group: Group,
    readonly hold: boolean,
  ) {}
}

type Part = SessionCommand | Slot | { lazy: () => SessionCommand[] };

export class Group {
  parts: Part[] = [];
  pos = 0;
  open = true;
  started = false;
  holds = 0;
  dropped = false;
  urgent = false;
}

export class Ordered {
  private groups: Group[] = [];

  open(): Group {
    const g = new Group();
    this.groups.push(g);
    return g;
  }

  push(g: Group, cmd: SessionCommand): void {
    if (!g.dropped) g.parts.push(cmd);
  }

  /** Computed when the group is written, after everything before it is settled (a tagged reply that may change). */
  lazy(g: Group, fn: () => SessionCommand[]): void {
    if (!g.dropped) g.parts.push({ lazy: fn });
  }

  slot(g: Group, hold: boolean): Slot {
    const s = new Slot(g, hold);
    if (!g.dropped) {
      g.parts.push(s);
      if (hold) g.holds++;
    }
    return s;
  }

  resolve(s: Slot, cmds: SessionCommand[]): void {
    if (s.resolved || s.group.dropped) return;
    s.resolved = cmds;
    if (s.hold) s.group.holds--;
  }

  close(g: Group): void {
    g.open = false;
  }

  /** Forgets everything of the group not yet written (it must not have started). */
  drop(g: Group): void {
    g.dropped = true;
    g.parts = [];
    g.pos = 0;
    g.holds = 0;
    g.open = false;
  }

  /**
   * A closed group written as early as the stream allows: immediately when the output is between groups, otherwise
   * right after the group being written (never inside one).
   */
  urgent(cmds: SessionCommand[]): void {
    const g = new Group();
    g.parts = cmds;
    g.open = false;
    g.urgent = true;
    // After the group being written and after earlier urgent groups, so urgent output keeps its own order.
    let at = this.groups[0]?.started ? 1 : 0;
    while (at < this.groups.length && this.groups[at]!.urgent) at++;
    this.groups.splice(at, 0, g);
  }

  /** The group being written, when it is stopped at an unresolved gate. */
  waitingGate(): Slot | null {
    const head = this.groups[0];
    if (!head?.started) return null;
    const p = head.parts[head.pos];
    return p instanceof Slot && !p.hold && p.resolved === null ? p : null;
  }

  /** Output is held at a group boundary by an unresolved hold: the moment to send a keepalive. */
  get heldAtBoundary(): boolean {
    const head = this.groups[0];
    return head !== undefined && !head.started && head.holds > 0;
  }

  get idle(): boolean {
    return this.groups.length === 0;
  }

  flush(): SessionCommand[] {
    const out: SessionCommand[] = [];
    while (this.groups.length > 0) {
      const g = this.groups[0]!;
      if (!g.started && g.holds > 0) break;
      while (g.pos < g.parts.length) {
        const p = g.parts[g.pos]!;
        if (p instanceof Slot) {
          if (p.resolved === null) break;
          out.push(...p.resolved);
        } else if ('lazy' in p) out.push(...p.lazy());
        else out.push(p);
        g.pos++;
        g.started = true;
      }
      if (g.pos > 64 && g.pos === g.parts.length) {
        g.parts = [];
        g.pos = 0;
      }
      if (g.pos === g.parts.length && !g.open) {
        this.groups.shift();
        continue;
      }
      break;
    }
    return out;
  }
}
