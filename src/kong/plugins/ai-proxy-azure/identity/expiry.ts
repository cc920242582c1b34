// When a managed identity token expires, from whichever form its endpoint
// wrote it in.
//
// IMDS, App Service (2019-08-01), Arc and Cloud Shell send expires_on as epoch
// seconds, as a string or a number. The legacy 2017-09-01 protocol (Azure
// Machine Learning, old App Service hosts) sends a date string instead, in a
// Linux form ("06/20/2019 02:57:58 +00:00") or a Windows one
// ("1/16/2020 5:24:12 AM +00:00"). A form we fail to read must never become
// an expiry in the past: that would refetch on every request. So an
// unreadable or past expires_on falls back to expires_in, and with neither
// the answer is reported as unreadable rather than as an expired token.

import { integer_field } from "./common";


// Epoch seconds this large would be past the year 5000: the value is in
// milliseconds, which some endpoints and proxies send.
const MILLISECONDS_THRESHOLD = 1e11;

const SECONDS_PER_DAY = 86400;


/** Days from 1970-01-01 to a date of the proleptic Gregorian calendar. */
function days_since_epoch(year: number, month: number, day: number): number {
  // Count years from March, so that the leap day ends a year.
  const shifted_year = month <= 2 ? year - 1 : year;
  const era = math.floor(shifted_year / 400);
  const year_of_era = shifted_year - era * 400;
  const month_from_march = month > 2 ? month - 3 : month + 9;
  const day_of_year = math.floor((153 * month_from_march + 2) / 5) + day - 1;
  const day_of_era =
    year_of_era * 365 + math.floor(year_of_era / 4) - math.floor(year_of_era / 100) + day_of_year;
  // 719468 days lie between 0000-03-01 and 1970-01-01.
  return era * 146097 + day_of_era - 719468;
}


function days_in_month(year: number, month: number): number {
  if (month === 2) {
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    return leap ? 29 : 28;
  }
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}


/** Seconds east of UTC from "+00:00", "-0500", "Z" or nothing (UTC). */
function offset_seconds(text: string): number | undefined {
  const [trimmed] = string.match(text, "^%s*(.-)%s*$");
  if (trimmed === undefined || trimmed === "" || trimmed === "Z" || trimmed === "z") {
    return 0;
  }
  const [sign, hours, minutes] = string.match(trimmed, "^([+-])(%d%d):?(%d%d)$");
  if (sign === undefined || hours === undefined || minutes === undefined) {
    return undefined;
  }
  const seconds = (tonumber(hours) ?? 0) * 3600 + (tonumber(minutes) ?? 0) * 60;
  return sign === "-" ? -seconds : seconds;
}


interface Moment {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  offset: number;
}


function epoch_of(moment: Moment): number | undefined {
  const { year, month, day, hour, minute, second } = moment;
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)) {
    return undefined;
  }
  if (hour > 23 || minute > 59 || second > 60) {
    return undefined;
  }
  return days_since_epoch(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second - moment.offset;
}


/** "MM/DD/YYYY HH:MM:SS +00:00" or "M/D/YYYY h:mm:ss AM +00:00", month first. */
function parse_us_date(text: string): number | undefined {
  const [month, day, year, hour, minute, second, rest] = string.match(
    text,
    "^%s*(%d%d?)/(%d%d?)/(%d%d%d%d)%s+(%d%d?):(%d%d):(%d%d)(.*)$",
  );
  if (month === undefined || day === undefined || year === undefined || hour === undefined) {
    return undefined;
  }
  let hour_of_day = tonumber(hour) ?? 0;
  let zone = rest ?? "";
  const [meridiem, after_meridiem] = string.match(zone, "^%s*([AaPp][Mm])(.*)$");
  if (meridiem !== undefined) {
    if (hour_of_day < 1 || hour_of_day > 12) {
      return undefined;
    }
    // 12 AM is midnight, 12 PM is noon.
    hour_of_day = hour_of_day % 12 + (string.lower(meridiem) === "pm" ? 12 : 0);
    zone = after_meridiem ?? "";
  }
  const offset = offset_seconds(zone);
  if (offset === undefined) {
    return undefined;
  }
  return epoch_of({
    year: tonumber(year) ?? 0,
    month: tonumber(month) ?? 0,
    day: tonumber(day) ?? 0,
    hour: hour_of_day,
    minute: tonumber(minute) ?? 0,
    second: tonumber(second) ?? 0,
    offset,
  });
}


/** "2019-06-20T02:57:58Z", with optional fraction and offset. */
function parse_iso_date(text: string): number | undefined {
  const [year, month, day, hour, minute, second, rest] = string.match(
    text,
    "^%s*(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(.*)$",
  );
  if (year === undefined || month === undefined || day === undefined || hour === undefined) {
    return undefined;
  }
  const [zone] = string.gsub(rest ?? "", "^%.%d+", "");
  const offset = offset_seconds(zone);
  if (offset === undefined) {
    return undefined;
  }
  return epoch_of({
    year: tonumber(year) ?? 0,
    month: tonumber(month) ?? 0,
    day: tonumber(day) ?? 0,
    hour: tonumber(hour) ?? 0,
    minute: tonumber(minute) ?? 0,
    second: tonumber(second) ?? 0,
    offset,
  });
}


function from_epoch_number(value: number): number | undefined {
  if (value !== value || value <= 0 || value === math.huge) {
    return undefined;
  }
  const seconds = value >= MILLISECONDS_THRESHOLD ? value / 1000 : value;
  return math.floor(seconds);
}


/** Epoch seconds from an expires_on value in any form identity endpoints send, or undefined. */
export function parse_expires_on(value: JsonValue | undefined): number | undefined {
  if (typeof value === "number") {
    return from_epoch_number(value);
  }
  if (typeof value !== "string") {
    return undefined;
  }
  const [digits] = string.match(value, "^%s*(%d+%.?%d*)%s*$");
  if (digits !== undefined) {
    return from_epoch_number(tonumber(digits) ?? 0);
  }
  return parse_us_date(value) ?? parse_iso_date(value);
}


/**
 * When a token answer expires: its expires_on when readable and still ahead,
 * else now + expires_in; undefined when neither gives a time ahead.
 */
export function expiry_of(answer: JsonObject, now: number): number | undefined {
  const expires_on = parse_expires_on(answer.get("expires_on"));
  if (expires_on !== undefined && expires_on > now) {
    return expires_on;
  }
  const expires_in = integer_field(answer, "expires_in");
  if (expires_in !== undefined && expires_in > 0) {
    return now + expires_in;
  }
  return undefined;
}
