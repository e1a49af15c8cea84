/**
 * Weekly windows of a city's local time ("Sunday to Thursday, 07:00 to 10:00"): prices and driving
 * speeds depend on them. Instants stay UTC everywhere; only matching a window reads the wall clock of
 * `timeZone`, through Intl, so daylight-saving changes are the time zone database's business.
 */

export const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** Sunday to Thursday: Cairo's work week. */
export const WORK_WEEK: readonly Weekday[] = ['SUN', 'MON', 'TUE', 'WED', 'THU'];
export const EVERY_DAY: readonly Weekday[] = WEEKDAYS;

export interface WeeklyWindow {
  /** The days the window starts on; a window that wraps past midnight ends on the next day. */
  readonly days: readonly Weekday[];
  /** Local minutes after midnight, inclusive. */
  readonly startMinute: number;
  /** Local minutes after midnight, exclusive; at or before `startMinute`, the window ends the next day. */
  readonly endMinute: number;
}

export interface LocalTime {
  /** 0 = Sunday … 6 = Saturday. */
  readonly weekday: number;
  /** Minutes after local midnight. */
  readonly minute: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** The weekday and minute of the day that clocks in `timeZone` show at `at`. */
export function localTime(at: Date, timeZone: string): LocalTime {
  let weekday = -1;
  let hour = 0;
  let minute = 0;
  for (const part of formatterFor(timeZone).formatToParts(at)) {
    if (part.type === 'weekday') weekday = WEEKDAYS.indexOf(part.value.toUpperCase() as Weekday);
    else if (part.type === 'hour') hour = Number(part.value);
    else if (part.type === 'minute') minute = Number(part.value);
  }
  if (weekday < 0) throw new Error(`Could not read the weekday of ${at.toISOString()} in ${timeZone}`);
  return { weekday, minute: hour * 60 + minute };
}

/** Whether a local time falls inside a window, including the after-midnight part of a wrapping one. */
export function windowContains(window: WeeklyWindow, time: LocalTime): boolean {
  const startsOn = (weekday: number) => window.days.includes(WEEKDAYS[weekday]);
  if (window.startMinute < window.endMinute) {
    return startsOn(time.weekday) && time.minute >= window.startMinute && time.minute < window.endMinute;
  }
  const yesterday = (time.weekday + 6) % 7;
  return (startsOn(time.weekday) && time.minute >= window.startMinute) || (startsOn(yesterday) && time.minute < window.endMinute);
}

/** "07:30" or "07:30:00" → 450. */
export function parseClockTime(value: string): number {
  const match = /^(\d{2}):(\d{2})(?::00)?$/.exec(value);
  if (!match || Number(match[1]) > 23 || Number(match[2]) > 59) throw new RangeError(`Not a time of day: ${value}`);
  return Number(match[1]) * 60 + Number(match[2]);
}

/** "SUN MON TUE" → ['SUN', 'MON', 'TUE']; unknown names are an error, not ignored. */
export function parseWeekdays(value: string): Weekday[] {
  const days = value.trim().split(/[\s,]+/).filter(Boolean);
  for (const day of days) if (!WEEKDAYS.includes(day as Weekday)) throw new RangeError(`Not a weekday: ${day}`);
  return days as Weekday[];
}
