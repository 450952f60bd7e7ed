//! Go's `time` package as sprig's date functions need it: `time.Time` (wall clock seconds,
//! nanoseconds, a location and an optional monotonic reading), layouts for `Format` and
//! `ParseInLocation` with Go's error texts, and `time.Duration`'s `String` and
//! `ParseDuration`. Zones come from the system tz database through `jiff`; the calendar
//! arithmetic is done here on plain integers so that every Go year prints as Go prints it.

/// Seconds from Go's zero time (January 1, year 1, UTC) to the Unix epoch.
pub(crate) const ZERO_TO_UNIX: i64 = 62_135_596_800;

pub(crate) const NANOS_PER_SEC: i64 = 1_000_000_000;

/// A `*time.Location`.
#[derive(Clone)]
pub(crate) struct Loc {
    /// What `Location.String()` gives (`UTC`, `Local`, `Europe/Paris`, a fixed zone's name).
    pub name: String,
    kind: LocKind,
}

#[derive(Clone)]
enum LocKind {
    Utc,
    Tz(jiff::tz::TimeZone),
    Fixed { abbr: String, offset: i32 },
}

impl Loc {
    pub fn utc() -> Loc {
        Loc {
            name: "UTC".into(),
            kind: LocKind::Utc,
        }
    }

    /// Go's `time.Local` as `TZ=name` makes it: that zone under that name, or UTC (named
    /// `UTC`) when it cannot be loaded.
    pub fn local_named(name: &str) -> Loc {
        match load_tz(name) {
            Some(tz) if name != "UTC" => Loc {
                name: name.to_string(),
                kind: LocKind::Tz(tz),
            },
            _ => Loc::utc(),
        }
    }

    /// The system's local zone as Go's runtime finds it: `TZ` (named after it), else
    /// /etc/localtime (named `Local`); UTC when neither loads.
    pub fn system_local() -> Loc {
        match std::env::var("TZ") {
            Ok(v) => Loc::local_named(v.strip_prefix(':').unwrap_or(&v)),
            Err(_) => match jiff::tz::TimeZone::try_system() {
                Ok(tz) => Loc {
                    name: "Local".into(),
                    kind: LocKind::Tz(tz),
                },
                Err(_) => Loc::utc(),
            },
        }
    }

    /// `time.FixedZone(name, offset)`.
    pub fn fixed(name: &str, offset: i32) -> Loc {
        Loc {
            name: name.to_string(),
            kind: LocKind::Fixed {
                abbr: name.to_string(),
                offset,
            },
        }
    }

    /// The zone abbreviation and offset east of UTC in effect at `unix`.
    pub fn lookup(&self, unix: i64) -> (String, i32) {
        match &self.kind {
            LocKind::Utc => ("UTC".into(), 0),
            LocKind::Fixed { abbr, offset } => (abbr.clone(), *offset),
            LocKind::Tz(tz) => {
                let clamped = unix.clamp(jiff::Timestamp::MIN.as_second(), jiff::Timestamp::MAX.as_second());
                let ts = jiff::Timestamp::from_second(clamped).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
                let info = tz.to_offset_info(ts);
                (info.abbreviation().to_string(), info.offset().seconds())
            }
        }
    }
}

/// A zone from the tz database by its exact (case-sensitive, as Go's file lookup) name.
fn load_tz(name: &str) -> Option<jiff::tz::TimeZone> {
    if name.is_empty() || name.contains("..") || name.starts_with('/') || name.contains('\\') {
        return None;
    }
    let tz = jiff::tz::db().get(name).ok()?;
    (tz.iana_name() == Some(name)).then_some(tz)
}

/// `time.LoadLocation(name)`: `""` and `UTC` are UTC, `Local` is the local zone.
pub(crate) fn load_location(name: &str, local: &Loc) -> Result<Loc, String> {
    match name {
        "" | "UTC" => Ok(Loc::utc()),
        "Local" => Ok(local.clone()),
        _ => match load_tz(name) {
            Some(tz) => Ok(Loc {
                name: name.to_string(),
                kind: LocKind::Tz(tz),
            }),
            None => Err(format!("unknown time zone {name}")),
        },
    }
}

/// A `time.Time`.
#[derive(Clone)]
pub(crate) struct GoTime {
    /// Seconds since the Unix epoch.
    pub unix: i64,
    pub nsec: u32,
    pub loc: Loc,
    /// The monotonic clock reading in nanoseconds (only `now` has one).
    pub mono: Option<i64>,
}

/// The parts of a time in its zone.
pub(crate) struct Civil {
    pub year: i64,
    /// 1..=12
    pub month: i64,
    pub day: i64,
    pub hour: i64,
    pub min: i64,
    pub sec: i64,
    /// 0 = Sunday
    pub weekday: i64,
    /// 1..=366
    pub yday: i64,
}

pub(crate) const LONG_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
pub(crate) const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Days from 1970-01-01 to the given proleptic Gregorian date.
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y.wrapping_sub(1) } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era.wrapping_mul(146_097).wrapping_add(doe).wrapping_sub(719_468)
}

/// The date of a day counted from 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z.wrapping_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe.wrapping_add(era.wrapping_mul(400));
    (if m <= 2 { y.wrapping_add(1) } else { y }, m, d)
}

pub(crate) fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

pub(crate) fn days_in(month: i64, year: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Go's `norm`: moves whole `base`s of `lo` into `hi`.
fn norm(hi: i64, lo: i64, base: i64) -> (i64, i64) {
    let (mut hi, mut lo) = (hi, lo);
    if lo < 0 {
        let n = (-(lo + 1)) / base + 1;
        hi = hi.wrapping_sub(n);
        lo = lo.wrapping_add(n.wrapping_mul(base));
    }
    if lo >= base {
        let n = lo / base;
        hi = hi.wrapping_add(n);
        lo -= n * base;
    }
    (hi, lo)
}

impl GoTime {
    /// Go's zero `time.Time` (year 1, UTC).
    pub fn zero() -> GoTime {
        GoTime {
            unix: -ZERO_TO_UNIX,
            nsec: 0,
            loc: Loc::utc(),
            mono: None,
        }
    }

    /// `time.Unix(sec, 0)` in `loc`.
    pub fn from_unix(unix: i64, loc: Loc) -> GoTime {
        GoTime {
            unix,
            nsec: 0,
            loc,
            mono: None,
        }
    }

    /// `time.Date(...)`, normalising out-of-range fields as Go does.
    #[allow(clippy::too_many_arguments)]
    pub fn date(
        year: i64,
        month: i64,
        day: i64,
        hour: i64,
        min: i64,
        sec: i64,
        nsec: i64,
        loc: Loc,
    ) -> GoTime {
        let (year, m) = norm(year, month.wrapping_sub(1), 12);
        let (sec, nsec) = norm(sec, nsec, NANOS_PER_SEC);
        let (min, sec) = norm(min, sec, 60);
        let (hour, min) = norm(hour, min, 60);
        let (day, hour) = norm(day, hour, 24);
        let days = days_from_civil(year, m + 1, 1).wrapping_add(day.wrapping_sub(1));
        let mut unix = days
            .wrapping_mul(86_400)
            .wrapping_add(hour * 3600 + min * 60 + sec);
        let (_, off) = loc.lookup(unix);
        if off != 0 {
            let (_, off2) = loc.lookup(unix.wrapping_sub(i64::from(off)));
            unix = unix.wrapping_sub(i64::from(off2));
        }
        GoTime {
            unix,
            nsec: nsec as u32,
            loc,
            mono: None,
        }
    }

    pub fn offset(&self) -> (String, i32) {
        self.loc.lookup(self.unix)
    }

    pub fn civil(&self) -> Civil {
        let (_, off) = self.offset();
        let local = self.unix.wrapping_add(i64::from(off));
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let yday = days.wrapping_sub(days_from_civil(year, 1, 1)).wrapping_add(1);
        Civil {
            year,
            month,
            day,
            hour: secs / 3600,
            min: secs / 60 % 60,
            sec: secs % 60,
            weekday: (days.wrapping_add(4)).rem_euclid(7),
            yday,
        }
    }

    pub fn is_zero(&self) -> bool {
        self.unix == -ZERO_TO_UNIX && self.nsec == 0
    }

    pub fn in_loc(&self, loc: Loc) -> GoTime {
        GoTime {
            unix: self.unix,
            nsec: self.nsec,
            loc,
            mono: None,
        }
    }

    /// Nanoseconds since the Unix epoch, as an exact wide integer.
    pub fn nanos(&self) -> i128 {
        i128::from(self.unix) * i128::from(NANOS_PER_SEC) + i128::from(self.nsec)
    }

    /// `t.Add(d)`.
    pub fn add(&self, d: i64) -> GoTime {
        let mut unix = self.unix.wrapping_add(d / NANOS_PER_SEC);
        let mut nsec = i64::from(self.nsec) + d % NANOS_PER_SEC;
        if nsec >= NANOS_PER_SEC {
            unix = unix.wrapping_add(1);
            nsec -= NANOS_PER_SEC;
        } else if nsec < 0 {
            unix = unix.wrapping_sub(1);
            nsec += NANOS_PER_SEC;
        }
        GoTime {
            unix,
            nsec: nsec as u32,
            loc: self.loc.clone(),
            mono: self.mono.and_then(|m| m.checked_add(d)),
        }
    }

    /// `t.Sub(u)`, saturating as Go does.
    pub fn sub(&self, u: &GoTime) -> i64 {
        if let (Some(a), Some(b)) = (self.mono, u.mono) {
            return a.saturating_sub(b);
        }
        let d = self.nanos() - u.nanos();
        d.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// `t.AddDate(years, months, days)`.
    pub fn add_date(&self, years: i64, months: i64, days: i64) -> GoTime {
        let c = self.civil();
        GoTime::date(
            c.year.wrapping_add(years),
            c.month.wrapping_add(months),
            c.day.wrapping_add(days),
            c.hour,
            c.min,
            c.sec,
            i64::from(self.nsec),
            self.loc.clone(),
        )
    }

    /// `t.Truncate(d)` (`round` false) or `t.Round(d)`, on the time since Go's zero time.
    pub fn round_to(&self, d: i64, round: bool) -> GoTime {
        let mut t = self.clone();
        t.mono = None;
        if d <= 0 {
            return t;
        }
        let abs = self.nanos() + i128::from(ZERO_TO_UNIX) * i128::from(NANOS_PER_SEC);
        let r = abs.rem_euclid(i128::from(d)) as i64;
        if round && r.wrapping_add(r) as u64 >= d as u64 {
            t.add(d - r)
        } else {
            t.add(-r)
        }
    }

    /// `t.Format(layout)`.
    pub fn format(&self, layout: &str) -> String {
        format(self, layout)
    }

    /// `t.String()`: the default layout, plus the monotonic reading where there is one.
    pub fn to_go_string(&self) -> String {
        let mut s = self.format("2006-01-02 15:04:05.999999999 -0700 MST");
        if let Some(m) = self.mono {
            let sign = if m < 0 { '-' } else { '+' };
            let u = m.unsigned_abs();
            let (secs, frac) = (u / 1_000_000_000, u % 1_000_000_000);
            s.push_str(&format!(" m={sign}{secs}.{frac:09}"));
        }
        s
    }
}

// ---- layouts ----

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    Tz,
    Iso8601Tz,
    Iso8601SecondsTz,
    Iso8601ShortTz,
    Iso8601ColonTz,
    Iso8601ColonSecondsTz,
    NumTz,
    NumSecondsTz,
    NumShortTz,
    NumColonTz,
    NumColonSecondsTz,
    /// Fractional seconds: digits, whether trailing zeros are dropped (`9`s), separator.
    Frac(usize, bool, u8),
}

fn lower_start(s: &[u8]) -> bool {
    s.first().is_some_and(u8::is_ascii_lowercase)
}

fn digit_at(s: &[u8], i: usize) -> bool {
    s.get(i).is_some_and(u8::is_ascii_digit)
}

/// Go's `nextStdChunk`: the text before the first layout element, the element, the rest.
fn next_std(layout: &[u8]) -> (usize, Option<(Std, usize)>) {
    let l = layout;
    let at = |i: usize, p: &str| l[i..].starts_with(p.as_bytes());
    for i in 0..l.len() {
        let found = match l[i] {
            b'J' if at(i, "Jan") => {
                if at(i, "January") {
                    Some((Std::LongMonth, 7))
                } else if !lower_start(&l[i + 3..]) {
                    Some((Std::Month, 3))
                } else {
                    None
                }
            }
            b'M' if at(i, "Mon") && at(i, "Monday") => Some((Std::LongWeekDay, 6)),
            b'M' if at(i, "Mon") && !lower_start(&l[i + 3..]) => Some((Std::WeekDay, 3)),
            b'M' if at(i, "MST") => Some((Std::Tz, 3)),
            b'0' if l.get(i + 1).is_some_and(|c| (b'1'..=b'6').contains(c)) => Some((
                [
                    Std::ZeroMonth,
                    Std::ZeroDay,
                    Std::ZeroHour12,
                    Std::ZeroMinute,
                    Std::ZeroSecond,
                    Std::Year,
                ][usize::from(l[i + 1] - b'1')],
                2,
            )),
            b'0' if at(i, "002") => Some((Std::ZeroYearDay, 3)),
            b'1' if at(i, "15") => Some((Std::Hour, 2)),
            b'1' => Some((Std::NumMonth, 1)),
            b'2' if at(i, "2006") => Some((Std::LongYear, 4)),
            b'2' => Some((Std::Day, 1)),
            b'_' if at(i, "_2006") => return (i + 1, Some((Std::LongYear, 4))),
            b'_' if at(i, "_2") => Some((Std::UnderDay, 2)),
            b'_' if at(i, "__2") => Some((Std::UnderYearDay, 3)),
            b'3' => Some((Std::Hour12, 1)),
            b'4' => Some((Std::Minute, 1)),
            b'5' => Some((Std::Second, 1)),
            b'P' if at(i, "PM") => Some((Std::PM, 2)),
            b'p' if at(i, "pm") => Some((Std::Pm, 2)),
            b'-' | b'Z' => {
                let z = l[i] == b'Z';
                let pats: [(&str, Std, Std); 5] = [
                    ("070000", Std::NumSecondsTz, Std::Iso8601SecondsTz),
                    ("07:00:00", Std::NumColonSecondsTz, Std::Iso8601ColonSecondsTz),
                    ("0700", Std::NumTz, Std::Iso8601Tz),
                    ("07:00", Std::NumColonTz, Std::Iso8601ColonTz),
                    ("07", Std::NumShortTz, Std::Iso8601ShortTz),
                ];
                pats.iter()
                    .find(|(p, _, _)| at(i + 1, p))
                    .map(|(p, n, iso)| (if z { *iso } else { *n }, p.len() + 1))
            }
            c @ (b'.' | b',') if matches!(l.get(i + 1), Some(b'0' | b'9')) => {
                let ch = l[i + 1];
                let mut j = i + 1;
                while j < l.len() && l[j] == ch {
                    j += 1;
                }
                if digit_at(l, j) {
                    None
                } else {
                    Some((Std::Frac(j - i - 1, ch == b'9', c), j - i))
                }
            }
            _ => None,
        };
        if let Some(f) = found {
            return (i, Some(f));
        }
    }
    (l.len(), None)
}

/// Go's `appendInt`: decimal, zero-padded to `width` after any sign.
fn append_int(b: &mut String, x: i64, width: usize) {
    if x < 0 {
        b.push('-');
    }
    let digits = x.unsigned_abs().to_string();
    for _ in digits.len()..width {
        b.push('0');
    }
    b.push_str(&digits);
}

fn format(t: &GoTime, layout: &str) -> String {
    let (name, offset) = t.offset();
    let c = t.civil();
    let mut b = String::new();
    let mut rest = layout.as_bytes();
    loop {
        let (pre, std) = next_std(rest);
        b.push_str(&String::from_utf8_lossy(&rest[..pre]));
        let Some((std, len)) = std else { break };
        rest = &rest[pre + len..];
        match std {
            Std::Year => append_int(&mut b, c.year.wrapping_abs() % 100, 2),
            Std::LongYear => append_int(&mut b, c.year, 4),
            Std::Month => b.push_str(&LONG_MONTHS[(c.month - 1) as usize][..3]),
            Std::LongMonth => b.push_str(LONG_MONTHS[(c.month - 1) as usize]),
            Std::NumMonth => append_int(&mut b, c.month, 0),
            Std::ZeroMonth => append_int(&mut b, c.month, 2),
            Std::WeekDay => b.push_str(&LONG_DAYS[c.weekday as usize][..3]),
            Std::LongWeekDay => b.push_str(LONG_DAYS[c.weekday as usize]),
            Std::Day => append_int(&mut b, c.day, 0),
            Std::UnderDay => {
                if c.day < 10 {
                    b.push(' ');
                }
                append_int(&mut b, c.day, 0)
            }
            Std::ZeroDay => append_int(&mut b, c.day, 2),
            Std::UnderYearDay => {
                if c.yday < 100 {
                    b.push(' ');
                    if c.yday < 10 {
                        b.push(' ');
                    }
                }
                append_int(&mut b, c.yday, 0)
            }
            Std::ZeroYearDay => append_int(&mut b, c.yday, 3),
            Std::Hour => append_int(&mut b, c.hour, 2),
            Std::Hour12 | Std::ZeroHour12 => {
                let h = if c.hour % 12 == 0 { 12 } else { c.hour % 12 };
                append_int(&mut b, h, if std == Std::Hour12 { 0 } else { 2 })
            }
            Std::Minute => append_int(&mut b, c.min, 0),
            Std::ZeroMinute => append_int(&mut b, c.min, 2),
            Std::Second => append_int(&mut b, c.sec, 0),
            Std::ZeroSecond => append_int(&mut b, c.sec, 2),
            Std::PM => b.push_str(if c.hour >= 12 { "PM" } else { "AM" }),
            Std::Pm => b.push_str(if c.hour >= 12 { "pm" } else { "am" }),
            Std::Tz => {
                if !name.is_empty() {
                    b.push_str(&name);
                } else {
                    let mut zone = offset / 60;
                    if zone < 0 {
                        b.push('-');
                        zone = -zone;
                    } else {
                        b.push('+');
                    }
                    append_int(&mut b, i64::from(zone / 60), 2);
                    append_int(&mut b, i64::from(zone % 60), 2);
                }
            }
            Std::Iso8601Tz
            | Std::Iso8601SecondsTz
            | Std::Iso8601ShortTz
            | Std::Iso8601ColonTz
            | Std::Iso8601ColonSecondsTz
            | Std::NumTz
            | Std::NumSecondsTz
            | Std::NumShortTz
            | Std::NumColonTz
            | Std::NumColonSecondsTz => {
                let iso = matches!(
                    std,
                    Std::Iso8601Tz
                        | Std::Iso8601SecondsTz
                        | Std::Iso8601ShortTz
                        | Std::Iso8601ColonTz
                        | Std::Iso8601ColonSecondsTz
                );
                if iso && offset == 0 {
                    b.push('Z');
                    continue;
                }
                let mut zone = offset / 60;
                let mut abs = offset;
                if zone < 0 {
                    b.push('-');
                    zone = -zone;
                    abs = -abs;
                } else {
                    b.push('+');
                }
                append_int(&mut b, i64::from(zone / 60), 2);
                let colon = matches!(
                    std,
                    Std::Iso8601ColonTz
                        | Std::NumColonTz
                        | Std::Iso8601ColonSecondsTz
                        | Std::NumColonSecondsTz
                );
                if colon {
                    b.push(':');
                }
                if !matches!(std, Std::NumShortTz | Std::Iso8601ShortTz) {
                    append_int(&mut b, i64::from(zone % 60), 2);
                }
                if matches!(
                    std,
                    Std::Iso8601SecondsTz
                        | Std::NumSecondsTz
                        | Std::NumColonSecondsTz
                        | Std::Iso8601ColonSecondsTz
                ) {
                    if colon {
                        b.push(':');
                    }
                    append_int(&mut b, i64::from(abs % 60), 2);
                }
            }
            Std::Frac(n, trim, sep) => {
                if trim && (n == 0 || t.nsec == 0) {
                    continue;
                }
                let digits = format!("{:09}", t.nsec);
                let mut f = String::from(sep as char);
                f.push_str(&digits[..n.min(9)]);
                if trim {
                    while f.ends_with('0') {
                        f.pop();
                    }
                    if f.len() == 1 {
                        f.pop();
                    }
                }
                b.push_str(&f);
            }
        }
    }
    b
}

/// Go's `quote` for time's error texts: non-ASCII and control bytes as `\x..`.
pub(crate) fn quote(s: &str) -> String {
    let mut b = String::from("\"");
    for c in s.chars() {
        if (c as u32) >= 0x80 || c < ' ' {
            let mut buf = [0u8; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                b.push_str(&format!("\\x{byte:02x}"));
            }
        } else {
            if c == '"' || c == '\\' {
                b.push('\\');
            }
            b.push(c);
        }
    }
    b.push('"');
    b
}

fn parse_error(layout: &str, value: &str, layout_elem: &str, value_elem: &[u8], msg: &str) -> String {
    let value_elem = String::from_utf8_lossy(value_elem);
    if msg.is_empty() {
        format!(
            "parsing time {} as {}: cannot parse {} as {}",
            quote(value),
            quote(layout),
            quote(&value_elem),
            quote(layout_elem)
        )
    } else {
        format!("parsing time {}{msg}", quote(value))
    }
}

fn getnum(s: &[u8], fixed: bool) -> Option<(i64, &[u8])> {
    if !digit_at(s, 0) {
        return None;
    }
    if !digit_at(s, 1) {
        if fixed {
            return None;
        }
        return Some((i64::from(s[0] - b'0'), &s[1..]));
    }
    Some((i64::from(s[0] - b'0') * 10 + i64::from(s[1] - b'0'), &s[2..]))
}

fn getnum3(s: &[u8], fixed: bool) -> Option<(i64, &[u8])> {
    let mut n = 0;
    let mut i = 0;
    while i < 3 && digit_at(s, i) {
        n = n * 10 + i64::from(s[i] - b'0');
        i += 1;
    }
    if i == 0 || (fixed && i != 3) {
        return None;
    }
    Some((n, &s[i..]))
}

/// Go's `leadingInt`: the leading digits (None on overflow past 1<<63).
fn leading_int(s: &[u8]) -> Option<(u64, &[u8])> {
    let mut x: u64 = 0;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        if x > (1u64 << 63) / 10 {
            return None;
        }
        x = x * 10 + u64::from(s[i] - b'0');
        if x > 1u64 << 63 {
            return None;
        }
        i += 1;
    }
    Some((x, &s[i..]))
}

/// Go's time-package `atoi`: an optional sign and digits, nothing else.
fn atoi(s: &[u8]) -> Option<i64> {
    let (neg, s) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (q, rem) = leading_int(s)?;
    if !rem.is_empty() {
        return None;
    }
    let x = q as i64;
    Some(if neg { x.wrapping_neg() } else { x })
}

fn skip<'a>(mut value: &'a [u8], mut prefix: &[u8]) -> Result<&'a [u8], &'a [u8]> {
    while let Some(&p) = prefix.first() {
        if p == b' ' {
            if value.first().is_some_and(|&c| c != b' ') {
                return Err(value);
            }
            while prefix.first() == Some(&b' ') {
                prefix = &prefix[1..];
            }
            while value.first() == Some(&b' ') {
                value = &value[1..];
            }
            continue;
        }
        if value.first() != Some(&p) {
            return Err(value);
        }
        prefix = &prefix[1..];
        value = &value[1..];
    }
    Ok(value)
}

fn lookup_name<'a>(tab: &[&str], short: bool, val: &'a [u8]) -> Option<(usize, &'a [u8])> {
    for (i, v) in tab.iter().enumerate() {
        let v = if short { &v.as_bytes()[..3] } else { v.as_bytes() };
        if val.len() >= v.len()
            && val[..v.len()].iter().zip(v).all(|(&a, &b)| {
                a == b || {
                    let (a, b) = (a | 0x20, b | 0x20);
                    a == b && a.is_ascii_lowercase()
                }
            })
        {
            return Some((i, &val[v.len()..]));
        }
    }
    None
}

fn comma_or_period(b: u8) -> bool {
    b == b'.' || b == b','
}

/// Go's `parseNanoseconds` over `value[..nbytes]` (separator first): nanoseconds or
/// whether it failed (`Err(true)` for a range error).
fn parse_nanos(value: &[u8], nbytes: usize) -> Result<i64, bool> {
    if !value.first().is_some_and(|&c| comma_or_period(c)) {
        return Err(false);
    }
    let nbytes = nbytes.min(10);
    let ns = atoi(&value[1..nbytes]).ok_or(false)?;
    if ns < 0 {
        return Err(true);
    }
    let mut ns = ns;
    for _ in 0..10 - nbytes {
        ns = ns.wrapping_mul(10);
    }
    Ok(ns)
}

fn parse_signed_offset(value: &[u8]) -> usize {
    if !matches!(value.first(), Some(b'-' | b'+')) {
        return 0;
    }
    match leading_int(&value[1..]) {
        Some((x, rem)) if rem.len() != value.len() - 1 && x <= 23 => value.len() - rem.len(),
        _ => 0,
    }
}

fn parse_time_zone(value: &[u8]) -> Option<usize> {
    if value.len() < 3 {
        return None;
    }
    if value.starts_with(b"ChST") || value.starts_with(b"MeST") {
        return Some(4);
    }
    if value.starts_with(b"GMT") {
        return Some(
            3 + if value.len() > 3 {
                parse_signed_offset(&value[3..])
            } else {
                0
            },
        );
    }
    if value[0] == b'+' || value[0] == b'-' {
        let n = parse_signed_offset(value);
        return (n > 0).then_some(n);
    }
    let upper = value
        .iter()
        .take(6)
        .take_while(|c| c.is_ascii_uppercase())
        .count();
    match upper {
        5 if value[4] == b'T' => Some(5),
        4 if value[3] == b'T' || value.starts_with(b"WITA") => Some(4),
        3 => Some(3),
        _ => None,
    }
}

/// A numeric zone offset's sign, hours, minutes, seconds and length in the value.
type OffsetParts<'a> = (u8, &'a [u8], &'a [u8], &'a [u8], usize);

/// `time.ParseInLocation(layout, value, loc)`, with `local` as `time.Local`.
pub(crate) fn parse_in_location(
    layout_s: &str,
    value_s: &str,
    default_loc: &Loc,
    local: &Loc,
) -> Result<GoTime, String> {
    let mut layout = layout_s.as_bytes();
    let mut value = value_s.as_bytes();
    let (mut am, mut pm) = (false, false);
    let (mut year, mut month, mut day, mut yday) = (0i64, -1i64, -1i64, -1i64);
    let (mut hour, mut min, mut sec, mut nsec) = (0i64, 0i64, 0i64, 0i64);
    let mut z: Option<Loc> = None;
    let mut zone_offset: i64 = -1;
    let mut zone_name = String::new();
    loop {
        let (pre, std) = next_std(layout);
        let prefix = &layout[..pre];
        value = match skip(value, prefix) {
            Ok(v) => v,
            Err(v) => {
                return Err(parse_error(
                    layout_s,
                    value_s,
                    &String::from_utf8_lossy(prefix),
                    v,
                    "",
                ));
            }
        };
        let Some((std, len)) = std else {
            if !value.is_empty() {
                let extra = String::from_utf8_lossy(value).into_owned();
                return Err(parse_error(
                    layout_s,
                    value_s,
                    "",
                    value,
                    &format!(": extra text: {}", quote(&extra)),
                ));
            }
            break;
        };
        let stdstr = String::from_utf8_lossy(&layout[pre..pre + len]).into_owned();
        layout = &layout[pre + len..];
        let hold = value;
        let mut range_err = "";
        let mut ok = true;
        match std {
            Std::Year => {
                if value.len() < 2 {
                    ok = false;
                } else {
                    match atoi(&value[..2]) {
                        Some(y) => {
                            year = if y >= 69 { y + 1900 } else { y + 2000 };
                            value = &value[2..];
                        }
                        None => ok = false,
                    }
                }
            }
            Std::LongYear => {
                if value.len() < 4 || !digit_at(value, 0) {
                    ok = false;
                } else {
                    let p = &value[..4];
                    value = &value[4..];
                    match atoi(p) {
                        Some(y) => year = y,
                        None => ok = false,
                    }
                }
            }
            Std::Month | Std::LongMonth => match lookup_name(&LONG_MONTHS, std == Std::Month, value) {
                Some((i, v)) => {
                    month = i as i64 + 1;
                    value = v;
                }
                None => ok = false,
            },
            Std::NumMonth | Std::ZeroMonth => match getnum(value, std == Std::ZeroMonth) {
                Some((m, v)) => {
                    month = m;
                    value = v;
                    if m <= 0 || 12 < m {
                        range_err = "month";
                    }
                }
                None => ok = false,
            },
            Std::WeekDay | Std::LongWeekDay => match lookup_name(&LONG_DAYS, std == Std::WeekDay, value) {
                Some((_, v)) => value = v,
                None => ok = false,
            },
            Std::Day | Std::UnderDay | Std::ZeroDay => {
                if std == Std::UnderDay && value.first() == Some(&b' ') {
                    value = &value[1..];
                }
                match getnum(value, std == Std::ZeroDay) {
                    Some((d, v)) => {
                        day = d;
                        value = v;
                    }
                    None => ok = false,
                }
            }
            Std::UnderYearDay | Std::ZeroYearDay => {
                for _ in 0..2 {
                    if std == Std::UnderYearDay && value.first() == Some(&b' ') {
                        value = &value[1..];
                    }
                }
                match getnum3(value, std == Std::ZeroYearDay) {
                    Some((d, v)) => {
                        yday = d;
                        value = v;
                    }
                    None => ok = false,
                }
            }
            Std::Hour => match getnum(value, false) {
                Some((h, v)) => {
                    hour = h;
                    value = v;
                    if !(0..24).contains(&h) {
                        range_err = "hour";
                    }
                }
                None => ok = false,
            },
            Std::Hour12 | Std::ZeroHour12 => match getnum(value, std == Std::ZeroHour12) {
                Some((h, v)) => {
                    hour = h;
                    value = v;
                    if !(0..=12).contains(&h) {
                        range_err = "hour";
                    }
                }
                None => ok = false,
            },
            Std::Minute | Std::ZeroMinute => match getnum(value, std == Std::ZeroMinute) {
                Some((m, v)) => {
                    min = m;
                    value = v;
                    if !(0..60).contains(&m) {
                        range_err = "minute";
                    }
                }
                None => ok = false,
            },
            Std::Second | Std::ZeroSecond => match getnum(value, std == Std::ZeroSecond) {
                Some((s, v)) => {
                    sec = s;
                    value = v;
                    if !(0..60).contains(&s) {
                        range_err = "second";
                    } else if value.len() >= 2 && comma_or_period(value[0]) && digit_at(value, 1) {
                        let next_is_frac = matches!(next_std(layout).1, Some((Std::Frac(..), _)));
                        if !next_is_frac {
                            let mut n = 2;
                            while n < value.len() && digit_at(value, n) {
                                n += 1;
                            }
                            match parse_nanos(value, n) {
                                Ok(ns) => nsec = ns,
                                Err(true) => range_err = "fractional second",
                                Err(false) => ok = false,
                            }
                            value = &value[n..];
                        }
                    }
                }
                None => ok = false,
            },
            Std::PM | Std::Pm => {
                if value.len() < 2 {
                    ok = false;
                } else {
                    let p = &value[..2];
                    value = &value[2..];
                    let (up, low) = if std == Std::PM {
                        (b"PM", b"AM")
                    } else {
                        (b"pm", b"am")
                    };
                    if p == up {
                        pm = true;
                    } else if p == low {
                        am = true;
                    } else {
                        ok = false;
                    }
                }
            }
            Std::Iso8601Tz
            | Std::Iso8601SecondsTz
            | Std::Iso8601ShortTz
            | Std::Iso8601ColonTz
            | Std::Iso8601ColonSecondsTz
            | Std::NumTz
            | Std::NumSecondsTz
            | Std::NumShortTz
            | Std::NumColonTz
            | Std::NumColonSecondsTz => {
                if matches!(std, Std::Iso8601Tz | Std::Iso8601ShortTz | Std::Iso8601ColonTz)
                    && value.first() == Some(&b'Z')
                {
                    value = &value[1..];
                    z = Some(Loc::utc());
                } else {
                    let parts: Option<OffsetParts<'_>> =
                        match std {
                            Std::Iso8601ColonTz | Std::NumColonTz => (value.len() >= 6 && value[3] == b':')
                                .then(|| (value[0], &value[1..3], &value[4..6], &b"00"[..], 6)),
                            Std::NumShortTz | Std::Iso8601ShortTz => (value.len() >= 3)
                                .then(|| (value[0], &value[1..3], &b"00"[..], &b"00"[..], 3)),
                            Std::Iso8601ColonSecondsTz | Std::NumColonSecondsTz => {
                                (value.len() >= 9 && value[3] == b':' && value[6] == b':')
                                    .then(|| (value[0], &value[1..3], &value[4..6], &value[7..9], 9))
                            }
                            Std::Iso8601SecondsTz | Std::NumSecondsTz => (value.len() >= 7)
                                .then(|| (value[0], &value[1..3], &value[3..5], &value[5..7], 7)),
                            _ => (value.len() >= 5)
                                .then(|| (value[0], &value[1..3], &value[3..5], &b"00"[..], 5)),
                        };
                    match parts {
                        None => ok = false,
                        Some((sign, h, m, s, n)) => {
                            value = &value[n..];
                            match (atoi(h), atoi(m), atoi(s)) {
                                (Some(h), Some(m), Some(s)) => {
                                    zone_offset = (h.wrapping_mul(60).wrapping_add(m))
                                        .wrapping_mul(60)
                                        .wrapping_add(s);
                                    match sign {
                                        b'+' => {}
                                        b'-' => zone_offset = -zone_offset,
                                        _ => ok = false,
                                    }
                                }
                                _ => ok = false,
                            }
                        }
                    }
                }
            }
            Std::Tz => {
                if value.starts_with(b"UTC") {
                    z = Some(Loc::utc());
                    value = &value[3..];
                } else {
                    match parse_time_zone(value) {
                        Some(n) => {
                            zone_name = String::from_utf8_lossy(&value[..n]).into_owned();
                            value = &value[n..];
                        }
                        None => ok = false,
                    }
                }
            }
            Std::Frac(n, false, _) => {
                let ndigit = 1 + n;
                if value.len() < ndigit {
                    ok = false;
                } else {
                    match parse_nanos(value, ndigit) {
                        Ok(ns) => nsec = ns,
                        Err(true) => range_err = "fractional second",
                        Err(false) => ok = false,
                    }
                    value = &value[ndigit..];
                }
            }
            Std::Frac(_, true, _) => {
                if value.len() >= 2 && comma_or_period(value[0]) && value[1].is_ascii_digit() {
                    let mut i = 0;
                    while i < 9 && i + 1 < value.len() && value[i + 1].is_ascii_digit() {
                        i += 1;
                    }
                    match parse_nanos(value, 1 + i) {
                        Ok(ns) => nsec = ns,
                        Err(true) => range_err = "fractional second",
                        Err(false) => ok = false,
                    }
                    value = &value[1 + i..];
                }
            }
        }
        if !range_err.is_empty() {
            return Err(parse_error(
                layout_s,
                value_s,
                &stdstr,
                value,
                &format!(": {range_err} out of range"),
            ));
        }
        if !ok {
            // Go 1.20 and later (Helm's 1.23) name the value where the element began
            return Err(parse_error(layout_s, value_s, &stdstr, hold, ""));
        }
    }
    if pm && hour < 12 {
        hour += 12;
    } else if am && hour == 12 {
        hour = 0;
    }
    if yday >= 0 {
        let mut m = 0;
        let mut d = 0;
        if is_leap(year) {
            if yday == 31 + 29 {
                m = 2;
                d = 29;
            } else if yday > 31 + 29 {
                yday -= 1;
            }
        }
        if !(1..=365).contains(&yday) {
            return Err(parse_error(
                layout_s,
                value_s,
                "",
                value,
                ": day-of-year out of range",
            ));
        }
        if m == 0 {
            const BEFORE: [i64; 13] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];
            m = (yday - 1) / 31 + 1;
            if BEFORE[m as usize] < yday {
                m += 1;
            }
            d = yday - BEFORE[(m - 1) as usize];
        }
        if month >= 0 && month != m {
            return Err(parse_error(
                layout_s,
                value_s,
                "",
                value,
                ": day-of-year does not match month",
            ));
        }
        month = m;
        if day >= 0 && day != d {
            return Err(parse_error(
                layout_s,
                value_s,
                "",
                value,
                ": day-of-year does not match day",
            ));
        }
        day = d;
    } else {
        if month < 0 {
            month = 1;
        }
        if day < 0 {
            day = 1;
        }
    }
    if day < 1 || day > days_in(month, year) {
        return Err(parse_error(layout_s, value_s, "", value, ": day out of range"));
    }
    if let Some(z) = z {
        return Ok(GoTime::date(year, month, day, hour, min, sec, nsec, z));
    }
    if zone_offset != -1 {
        let mut t = GoTime::date(year, month, day, hour, min, sec, nsec, Loc::utc());
        t.unix = t.unix.wrapping_sub(zone_offset);
        let (name, off) = local.lookup(t.unix);
        if i64::from(off) == zone_offset && (zone_name.is_empty() || name == zone_name) {
            t.loc = local.clone();
            return Ok(t);
        }
        t.loc = Loc::fixed(&zone_name, zone_offset as i32);
        return Ok(t);
    }
    if !zone_name.is_empty() {
        let mut t = GoTime::date(year, month, day, hour, min, sec, nsec, Loc::utc());
        let (name, off) = local.lookup(t.unix.wrapping_sub(0));
        if name == zone_name {
            let (name2, off2) = local.lookup(t.unix.wrapping_sub(i64::from(off)));
            if name2 == zone_name {
                t.unix = t.unix.wrapping_sub(i64::from(off2));
                t.loc = local.clone();
                return Ok(t);
            }
        }
        let mut offset = 0;
        if zone_name.len() > 3 && zone_name.starts_with("GMT") {
            offset = atoi(&zone_name.as_bytes()[3..]).unwrap_or(0).wrapping_mul(3600);
        }
        t.loc = Loc::fixed(&zone_name, offset as i32);
        return Ok(t);
    }
    Ok(GoTime::date(
        year,
        month,
        day,
        hour,
        min,
        sec,
        nsec,
        default_loc.clone(),
    ))
}

// ---- durations ----

/// `time.Duration.String()`.
pub(crate) fn duration_string(d: i64) -> String {
    let neg = d < 0;
    let mut u = d.unsigned_abs();
    let mut out = String::new();
    // fraction of u / 10^prec, trailing zeros and a bare point dropped
    let frac = |u: u64, prec: u32| -> (String, u64) {
        let p = 10u64.pow(prec);
        let f = u % p;
        if f == 0 {
            return (String::new(), u / p);
        }
        let s = format!("{f:0width$}", width = prec as usize);
        (format!(".{}", s.trim_end_matches('0')), u / p)
    };
    if u < 1_000_000_000 {
        let (prec, unit) = match u {
            0 => return "0s".into(),
            1..=999 => (0, "ns"),
            1_000..=999_999 => (3, "µs"),
            _ => (6, "ms"),
        };
        let (f, whole) = frac(u, prec);
        out.push_str(&format!("{whole}{f}{unit}"));
    } else {
        let (f, secs) = frac(u, 9);
        u = secs;
        let s = format!("{}{f}s", u % 60);
        u /= 60;
        if u > 0 {
            let m = format!("{}m", u % 60);
            u /= 60;
            if u > 0 {
                out.push_str(&format!("{u}h"));
            }
            out.push_str(&m);
        }
        out.push_str(&s);
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// `time.ParseDuration`, with Go's error texts.
pub(crate) fn parse_duration(orig: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", quote(orig));
    let mut s = orig.as_bytes();
    let mut neg = false;
    if let Some(&c @ (b'-' | b'+')) = s.first() {
        neg = c == b'-';
        s = &s[1..];
    }
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let pl = s.len();
        let (mut v, rest) = leading_int(s).ok_or_else(invalid)?;
        s = rest;
        let pre = pl != s.len();
        let mut post = false;
        let (mut f, mut scale) = (0u64, 1f64);
        if s.first() == Some(&b'.') {
            s = &s[1..];
            let pl = s.len();
            let mut overflow = false;
            let mut i = 0;
            while i < s.len() && s[i].is_ascii_digit() {
                if !overflow {
                    if f > (i64::MAX as u64) / 10 {
                        overflow = true;
                    } else {
                        let y = f * 10 + u64::from(s[i] - b'0');
                        if y > 1u64 << 63 {
                            overflow = true;
                        } else {
                            f = y;
                            scale *= 10.0;
                        }
                    }
                }
                i += 1;
            }
            s = &s[i..];
            post = pl != s.len();
        }
        if !pre && !post {
            return Err(invalid());
        }
        let i = s
            .iter()
            .position(|&c| c == b'.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if i == 0 {
            return Err(format!("time: missing unit in duration {}", quote(orig)));
        }
        let u = &s[..i];
        s = &s[i..];
        let unit: u64 = match u {
            b"ns" => 1,
            b"us" => 1_000,
            _ if u == "µs".as_bytes() || u == "μs".as_bytes() => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60_000_000_000,
            b"h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    quote(&String::from_utf8_lossy(u)),
                    quote(orig)
                ));
            }
        };
        if v > (1u64 << 63) / unit {
            return Err(invalid());
        }
        v *= unit;
        if f > 0 {
            v = v.wrapping_add((f as f64 * (unit as f64 / scale)) as u64);
            if v > 1u64 << 63 {
                return Err(invalid());
            }
        }
        d = d.wrapping_add(v);
        if d > 1u64 << 63 {
            return Err(invalid());
        }
    }
    if neg {
        return Ok((d as i64).wrapping_neg());
    }
    if d > i64::MAX as u64 {
        return Err(invalid());
    }
    Ok(d as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_the_reference_time() {
        let t = GoTime::date(2006, 1, 2, 15, 4, 5, 123_456_789, Loc::fixed("MST", -7 * 3600));
        assert_eq!(t.unix, 1_136_239_445);
        assert_eq!(
            t.format("Mon Monday Jan January 1 01 2 _2 02 __2 002 15 3 03 4 04 5 05 2006 06 PM pm MST -0700 -07:00 -07 Z07:00 .000 .999 ,9"),
            "Mon Monday Jan January 1 01 2  2 02   2 002 15 3 03 4 04 5 05 2006 06 PM pm MST -0700 -07:00 -07 -07:00 .123 .123 ,1"
        );
        assert_eq!(t.to_go_string(), "2006-01-02 15:04:05.123456789 -0700 MST");
        assert_eq!(GoTime::zero().to_go_string(), "0001-01-01 00:00:00 +0000 UTC");
    }

    #[test]
    fn durations() {
        for (d, s) in [
            (0, "0s"),
            (1, "1ns"),
            (1_100, "1.1µs"),
            (2_200_000, "2.2ms"),
            (3_300_000_000, "3.3s"),
            (4 * 60 * NANOS_PER_SEC + 5 * NANOS_PER_SEC, "4m5s"),
            (3600 * NANOS_PER_SEC, "1h0m0s"),
            (-3600 * NANOS_PER_SEC - 1, "-1h0m0.000000001s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ] {
            assert_eq!(duration_string(d), s);
        }
        assert_eq!(parse_duration("1h30m"), Ok(5400 * NANOS_PER_SEC));
        assert_eq!(parse_duration("1.5h"), Ok(5400 * NANOS_PER_SEC));
        assert_eq!(parse_duration("-.5s"), Ok(-500_000_000));
        assert_eq!(parse_duration("x").unwrap_err(), "time: invalid duration \"x\"");
        assert_eq!(
            parse_duration("1").unwrap_err(),
            "time: missing unit in duration \"1\""
        );
        assert_eq!(
            parse_duration("1d").unwrap_err(),
            "time: unknown unit \"d\" in duration \"1d\""
        );
    }
}
