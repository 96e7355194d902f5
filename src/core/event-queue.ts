// The session driver's event loop. A command the driver runs can itself produce an event for the same session (a
// capture that overflows its spool answers with capture-failed; a socket can close while a batch is being written).
// Handing that event to the session at once would call back into it while it is still inside the batch that caused
// it, with half of that batch's commands not yet run. Events are queued instead, and run one at a time in order.

/** Events handled in one drain before the driver gives up: a session that feeds itself forever is a defect. */
export const MAX_EVENTS_PER_DRAIN = 100_000;

export class EventQueue<E> {
  private readonly queue: E[] = [];
  private running = false;

  /** `run` handles one event and runs all its commands; `overflow` is told when a drain exceeds its bound. */
  constructor(
    private readonly run: (event: E) => void,
    private readonly overflow: (dropped: number) => void,
  ) {}

  /** Queues `event`; runs it now unless an event is already being handled, in which case that drain runs it next. */
  push(event: E): void {
    this.queue.push(event);
    this.exclusive(() => {});
  }

  /**
   * Runs `fn` (a batch of commands the driver runs outside an event, e.g. the session's internal-error reply) as if
   * it were an event: events it produces wait until it returns, then run in order.
   */
  exclusive(fn: () => void): void {
    if (this.running) return fn();
    this.running = true;
    try {
      fn();
      let handled = 0;
      for (let e = this.queue.shift(); e !== undefined; e = this.queue.shift()) {
        if (++handled > MAX_EVENTS_PER_DRAIN) {
          const dropped = this.queue.length + 1;
          this.queue.length = 0;
          this.overflow(dropped);
          return;
        }
        this.run(e);
      }
    } finally {
      this.running = false;
    }
  }

  /** Whether an event is being handled now (the caller is inside `run`). */
  get busy(): boolean {
    return this.running;
  }
}
