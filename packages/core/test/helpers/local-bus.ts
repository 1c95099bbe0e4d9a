// An in-process invalidation bus for tests: every bus made by one hub hears every other, the
// hub can hold messages (a slow network), cut every subscription (a lost Redis) and restore it.
import type { BusHandlers, BusMessage, CacheBus } from '../../src/index.js';

/** One bus of a {@link LocalBusHub}. */
class LocalBus implements CacheBus {
  readonly name = 'local-bus';
  readonly published: BusMessage[] = [];
  readonly #hub: LocalBusHub;
  handlers: BusHandlers | undefined;
  closed = false;

  constructor(hub: LocalBusHub) {
    this.#hub = hub;
  }

  start(handlers: BusHandlers): Promise<void> {
    this.handlers = handlers;
    this.#hub.join(this);
    return Promise.resolve();
  }

  publish(message: BusMessage): void {
    this.published.push(message);
    this.#hub.send(message);
  }

  close(): Promise<void> {
    this.closed = true;
    this.#hub.leave(this);
    return Promise.resolve();
  }
}

/** Connects buses in one process. */
export class LocalBusHub {
  readonly #buses = new Set<LocalBus>();
  #held: BusMessage[] | undefined;
  #up = true;

  /** A new bus on this hub. */
  bus(): LocalBus {
    return new LocalBus(this);
  }

  join(bus: LocalBus): void {
    this.#buses.add(bus);
    if (this.#up) bus.handlers?.live();
  }

  leave(bus: LocalBus): void {
    this.#buses.delete(bus);
  }

  send(message: BusMessage): void {
    if (!this.#up) return; // lost, as Redis pub/sub loses what is published while a subscriber is away
    if (this.#held !== undefined) {
      this.#held.push(message);
      return;
    }
    // Delivered on a later tick, like a message over a socket.
    setImmediate(() => this.#deliver(message));
  }

  #deliver(message: BusMessage): void {
    for (const bus of this.#buses) if (!bus.closed) bus.handlers?.message(message);
  }

  /** Holds every message until {@link LocalBusHub.release}. */
  hold(): void {
    this.#held ??= [];
  }

  /** Delivers what was held, in order. */
  release(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const message of held) this.#deliver(message);
  }

  /** Every subscription is lost (messages sent meanwhile are gone). */
  cut(): void {
    this.#up = false;
    for (const bus of this.#buses) bus.handlers?.lost(new Error('bus cut by the test'));
  }

  /** Every subscription is live again. */
  restore(): void {
    this.#up = true;
    for (const bus of this.#buses) bus.handlers?.live();
  }
}
