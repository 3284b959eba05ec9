/**
 * Dates and durations as people type them on the command line, shared by
 * `--where`, `--since` and `--until`. Pure: the current time is a parameter
 * so that results are reproducible.
 *
 * Dates without a zone ('2026-11-01', '2026-11-01 10:00') are local time, as
 * git reads them (`git log --since`), even though JavaScript's own parser
 * takes a bare date as UTC; a zone ('Z', '+02:00') makes them absolute.
 * Every result is an ISO string as Date.toISOString() gives, the form the
 * index stores, so that comparing strings compares instants.
 */
import { ErrorCode, GitRunError } from '../errors/index.js';

export const DATE_FORMS =
  "2026-11-01, 2026-11-01T10:00, '2026-11-01 10:00:00', 2026-11-01T10:00:00Z or +02:00, now, today, yesterday, " +
  "'3 days ago' (seconds, minutes, hours, days, weeks, months, years), @1700000000 (unix time)";

export const DURATION_FORMS = '90 (seconds), 90s, 5m, 2h, 1d, 1.5h';

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;
const AGO = /^(\d+(?:\.\d+)?|\.\d+)\s*([a-z]+)\s+ago$/i;
const EPOCH = /^@(-?\d+(?:\.\d+)?)$/;

const MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
/** Unit spellings: the fixed-length ones map to MS keys; months and years follow the calendar. */
const UNITS: Record<string, 's' | 'm' | 'h' | 'd' | 'w' | 'mo' | 'y'> = {
  s: 's', sec: 's', secs: 's', second: 's', seconds: 's',
  m: 'm', min: 'm', mins: 'm', minute: 'm', minutes: 'm',
  h: 'h', hr: 'h', hrs: 'h', hour: 'h', hours: 'h',
  d: 'd', day: 'd', days: 'd',
  w: 'w', wk: 'w', wks: 'w', week: 'w', weeks: 'w',
  mo: 'mo', month: 'mo', months: 'mo',
  y: 'y', yr: 'y', yrs: 'y', year: 'y', years: 'y',
};

const badDate = (text: string, why?: string) =>
  new GitRunError(ErrorCode.BadDate, `'${text}' is not a date${why ? ` (${why})` : ''}`, `write one of: ${DATE_FORMS}`, { value: text });

const daysIn = (y: number, m: number) => (m === 2 ? ((y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28) : [4, 6, 9, 11].includes(m) ? 30 : 31);

/** Local midnight of the day `days` after the day of `d`; the calendar, not 24 h steps, so DST days come out right. */
function midnight(d: Date, days = 0): Date {
  const x = new Date(d.getTime());
  x.setHours(0, 0, 0, 0);
  x.setDate(x.getDate() + days);
  return x;
}

function toIso(d: Date, text: string): string {
  const t = d.getTime();
  if (!Number.isFinite(t)) throw badDate(text, 'out of range');
  const iso = d.toISOString();
  // Years outside 0000-9999 come out as '+010000-...', which would not sort with the rest.
  if (iso.length !== 24) throw badDate(text, 'out of range');
  return iso;
}

export function parseDate(text: string, now: Date = new Date()): string {
  const s = text.trim();
  const lower = s.toLowerCase();
  if (lower === 'now') return toIso(now, text);
  if (lower === 'today') return toIso(midnight(now), text);
  if (lower === 'yesterday') return toIso(midnight(now, -1), text);

  let m = EPOCH.exec(s);
  if (m) return toIso(new Date(Number(m[1]) * 1000), text);

  m = AGO.exec(s);
  if (m) {
    const n = Number(m[1]);
    const unit = UNITS[m[2]!.toLowerCase()];
    if (!unit) throw badDate(text, `unknown unit '${m[2]}'`);
    if (unit === 'mo' || unit === 'y') {
      if (!Number.isInteger(n)) throw badDate(text, 'months and years must be whole numbers');
      const d = new Date(now.getTime());
      // The calendar: one month ago from March 31 is the end of February, not March 3.
      const day = d.getDate();
      d.setDate(1);
      if (unit === 'mo') d.setMonth(d.getMonth() - n);
      else d.setFullYear(d.getFullYear() - n);
      d.setDate(Math.min(day, daysIn(d.getFullYear(), d.getMonth() + 1)));
      return toIso(d, text);
    }
    return toIso(new Date(now.getTime() - Math.round(n * MS[unit]!)), text);
  }

  m = ISO.exec(s);
  if (m) {
    const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const [h, mi, sec] = [Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)];
    const ms = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
    if (mo < 1 || mo > 12) throw badDate(text, `no month ${m[2]}`);
    if (d < 1 || d > daysIn(y, mo)) throw badDate(text, `no day ${m[3]} in that month`);
    if (h > 23 || mi > 59 || sec > 59) throw badDate(text, 'no such time of day');
    const zone = m[8];
    if (zone) {
      let offset = 0;
      if (zone.toUpperCase() !== 'Z') {
        const digits = zone.slice(1).replace(':', '');
        const oh = Number(digits.slice(0, 2));
        const om = Number(digits.slice(2) || '0');
        if (oh > 14 || om > 59) throw badDate(text, `no zone ${zone}`);
        offset = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om);
      }
      const u = new Date(0);
      u.setUTCFullYear(y, mo - 1, d);
      u.setUTCHours(h, mi, sec, ms);
      return toIso(new Date(u.getTime() - offset * 60_000), text);
    }
    // setFullYear, not the Date constructor, which reads years 0-99 as 1900-1999.
    const local = new Date(2000, 0, 1);
    local.setFullYear(y, mo - 1, d);
    local.setHours(h, mi, sec, ms);
    return toIso(local, text);
  }
  throw badDate(text);
}

const DURATION = /^(\d+(?:\.\d+)?|\.\d+)\s*([smhdw]?)$/;

export function parseDuration(text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) {
    throw new GitRunError(ErrorCode.BadExpression, `'${text}' is not a duration`, `write seconds or a number with a unit s, m, h, d or w: ${DURATION_FORMS}`, {
      value: text,
    });
  }
  const n = Number(m[1]);
  return m[2] ? (n * MS[m[2]]!) / 1000 : n;
}
