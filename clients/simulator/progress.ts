/**
 * The simulator's progress on the terminal: a block redrawn in place (log-update) on a terminal, a
 * plain line every few seconds otherwise (a pipe, a CI log), and a summary at the end.
 */
import { createLogUpdate } from 'log-update';
import picocolors from 'picocolors';
import type { StatsSnapshot } from './stats.ts';

export interface ProgressView {
  routerUrl: string;
  elapsedMs: number;
  bookingMs: number;
  /** Riders book until bookingMs; then the rides under way finish. */
  stage: 'booking' | 'finishing rides';
  drivers: { total: number; online: number; onTrip: number; backingOff: number };
  riders: { total: number; riding: number };
  stats: StatsSnapshot;
}

const clock = (ms: number) => {
  const seconds = Math.floor(ms / 1000);
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
};
const ms = (value: number) => (Number.isNaN(value) ? '–' : `${Math.round(value)} ms`);

function latency(stats: StatsSnapshot): string {
  const { p50, p95, p99, count } = stats.offerLatencyMs;
  return `p50 ${ms(p50)} · p95 ${ms(p95)} · p99 ${ms(p99)} (${count} trips)`;
}

function counts(record: Record<string, number>): string {
  const entries = Object.entries(record).sort((a, b) => b[1] - a[1]);
  return entries.length ? entries.map(([code, count]) => `${code} ${count}`).join(' · ') : 'none';
}

function rides(stats: StatsSnapshot): string {
  const cancelled = stats.cancelled ? ` (${counts(stats.cancelledBy)})` : '';
  const underWay = stats.booked - stats.completed - stats.cancelled;
  return `booked ${stats.booked} · matched ${stats.matched} · completed ${stats.completed} · cancelled ${stats.cancelled}${cancelled} · under way ${underWay}`;
}

/** The block redrawn on a terminal. */
export function renderBlock(view: ProgressView, color = picocolors.createColors(true)): string {
  const { drivers, riders, stats } = view;
  return [
    `${color.bold('SmartLine simulator')} → ${view.routerUrl}   ${clock(view.elapsedMs)}  ${color.dim(`${view.stage} (riders book for ${clock(view.bookingMs)})`)}`,
    `${color.cyan('drivers')}  ${drivers.online} online · ${drivers.onTrip} on a trip · ${drivers.backingOff} backing off (of ${drivers.total})`,
    `${color.cyan('riders')}   ${riders.riding} riding (of ${riders.total})`,
    `${color.cyan('rides')}    ${rides(stats)}`,
    `${color.cyan('offers')}   request → first offer seen by a driver: ${latency(stats)}`,
    `${color.cyan('errors')}   ${stats.errors && Object.keys(stats.errors).length ? color.yellow(counts(stats.errors)) : 'none'}`,
  ].join('\n');
}

/** One plain line for logs. */
export function renderLine(view: ProgressView): string {
  const { drivers, stats } = view;
  return `[${clock(view.elapsedMs)}] ${view.stage}: drivers ${drivers.online} online, ${drivers.onTrip} on a trip, ${drivers.backingOff} backing off · rides ${rides(stats)} · offer latency ${latency(stats)} · errors ${counts(stats.errors)}`;
}

export function renderSummary(view: ProgressView): string {
  const { stats } = view;
  return [
    `Simulation over after ${clock(view.elapsedMs)} against ${view.routerUrl} (${view.drivers.total} drivers, ${view.riders.total} riders).`,
    `rides    ${rides(stats)}`,
    `offers   request → first offer seen by a driver: ${latency(stats)}`,
    `errors   ${counts(stats.errors)}`,
  ].join('\n');
}

export class ProgressDisplay {
  readonly #stream: NodeJS.WriteStream;
  readonly #view: () => ProgressView;
  readonly #interactive: boolean;
  #timer: NodeJS.Timeout | undefined;
  #update: ReturnType<typeof createLogUpdate> | undefined;

  /** Redraws on a terminal (every 250 ms); elsewhere writes a line every `lineEveryMs`. */
  constructor(stream: NodeJS.WriteStream, view: () => ProgressView, lineEveryMs = 5_000) {
    this.#stream = stream;
    this.#view = view;
    this.#interactive = stream.isTTY === true;
    if (this.#interactive) {
      this.#update = createLogUpdate(stream);
      const colors = picocolors.createColors(true);
      this.#timer = setInterval(() => this.#update!(renderBlock(this.#view(), colors)), 250);
    } else {
      this.#timer = setInterval(() => stream.write(`${renderLine(this.#view())}\n`), lineEveryMs);
    }
    this.#timer.unref();
  }

  /** A one-off message above the live block (or a line of its own). */
  note(text: string): void {
    if (this.#update) this.#update.persist(text);
    else this.#stream.write(`${text}\n`);
  }

  /** Stops redrawing and prints the summary. */
  finish(): void {
    clearInterval(this.#timer);
    const view = this.#view();
    if (this.#update) {
      this.#update(renderBlock(view, picocolors.createColors(true)));
      this.#update.done();
    }
    this.#stream.write(`\n${renderSummary(view)}\n`);
  }
}
