//! sprig's date functions (`now`, `date`, `dateInZone`, `toDate`, `dateModify`, `ago`,
//! `duration`, `durationRound`, `unixEpoch`, ...) over Go's `time.Time`, which templates
//! see as a struct with its methods (`.Unix`, `.Format`, `.Year`, `.Add`, ...).

use std::any::Any;
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::gotime::{self, GoTime, Loc};
use crate::FuncMap;
use crate::value::{Arg, FuncResult, Function, GoObject, ParamType, Value};

type NowFn = dyn Fn() -> GoTime + Send + Sync;

/// Where `now` (and `ago`, `durationRound` of a time, `date` of a non-time) get the
/// current time from, and what `time.Local` is. [`Clock::system`] is the real one; tests
/// fix it with [`Clock::fixed`].
#[derive(Clone)]
pub struct Clock {
    now: Arc<NowFn>,
    local: Loc,
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock(local {})", self.local.name)
    }
}

fn process_start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

impl Clock {
    /// The system clock, with Go's monotonic reading, and the local zone from `TZ` (else
    /// /etc/localtime).
    pub fn system() -> Clock {
        let start = process_start();
        let local = Loc::system_local();
        let loc = local.clone();
        Clock {
            now: Arc::new(move || {
                let (unix, nsec) = match SystemTime::now().duration_since(UNIX_EPOCH) {
                    Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
                    Err(e) => {
                        let d = e.duration();
                        let n = -(d.as_nanos() as i128);
                        (
                            n.div_euclid(1_000_000_000) as i64,
                            n.rem_euclid(1_000_000_000) as u32,
                        )
                    }
                };
                let mono = i64::try_from(start.elapsed().as_nanos()).unwrap_or(i64::MAX);
                GoTime {
                    unix,
                    nsec,
                    loc: loc.clone(),
                    mono: Some(mono.max(1)),
                }
            }),
            local,
        }
    }

    /// A clock stopped at `unix` seconds and `nsec` nanoseconds, with `local_zone` (a tz
    /// database name, or `UTC`) as `time.Local` (as `TZ=local_zone` gives Go); its `now` has no monotonic reading.
    pub fn fixed(unix: i64, nsec: u32, local_zone: &str) -> Clock {
        let local = Loc::local_named(local_zone);
        let loc = local.clone();
        Clock {
            now: Arc::new(move || GoTime {
                unix,
                nsec: nsec.min(999_999_999),
                loc: loc.clone(),
                mono: None,
            }),
            local,
        }
    }

    /// This clock with another `time.Local` (as `TZ=local_zone` gives Go).
    pub fn with_local_zone(self, local_zone: &str) -> Clock {
        let local = Loc::local_named(local_zone);
        let now = self.now.clone();
        let loc = local.clone();
        Clock {
            now: Arc::new(move || {
                let t = now();
                GoTime {
                    loc: loc.clone(),
                    ..t
                }
            }),
            local,
        }
    }

    fn now(&self) -> GoTime {
        (self.now)()
    }
}

// ---- the Go types templates see ----

/// A `time.Time` value.
pub(crate) struct TimeObj(pub GoTime);

/// The time inside a value, if it is a `time.Time`.
pub(crate) fn as_time(v: &Value) -> Option<&GoTime> {
    match v {
        Value::Object(o) => o.as_any().downcast_ref::<TimeObj>().map(|t| &t.0),
        _ => None,
    }
}

pub(crate) fn time_value(t: GoTime) -> Value {
    Value::Object(Arc::new(TimeObj(t)))
}

fn ok(v: Value) -> FuncResult {
    Ok(Arg::Value(v))
}

fn method0(result: &str, f: impl Fn() -> Value + Send + Sync + 'static) -> Function {
    Function::new(vec![], false, result, false, move |_| ok(f()))
}

fn arg_time(a: &[Arg], i: usize) -> GoTime {
    a.get(i)
        .and_then(|a| as_time(&a.value()).cloned())
        .unwrap_or_else(GoTime::zero)
}

fn arg_i64(a: &[Arg], i: usize) -> i64 {
    match a.get(i).map(Arg::value) {
        Some(Value::Int(n) | Value::Int64(n)) => n,
        _ => 0,
    }
}

impl GoObject for TimeObj {
    fn type_name(&self) -> String {
        "time.Time".into()
    }

    fn method(&self, name: &str) -> Option<Function> {
        let t = self.0.clone();
        let c = t.civil();
        let int = |n: i64| method0("int", move || Value::Int(n));
        Some(match name {
            "String" => method0("string", move || Value::String(t.to_go_string())),
            "Unix" => method0("int64", move || Value::Int64(t.unix)),
            "UnixMilli" => method0("int64", move || {
                Value::Int64(
                    t.unix
                        .wrapping_mul(1000)
                        .wrapping_add(i64::from(t.nsec / 1_000_000)),
                )
            }),
            "UnixMicro" => method0("int64", move || {
                Value::Int64(
                    t.unix
                        .wrapping_mul(1_000_000)
                        .wrapping_add(i64::from(t.nsec / 1000)),
                )
            }),
            "UnixNano" => method0("int64", move || {
                Value::Int64(
                    t.unix
                        .wrapping_mul(gotime::NANOS_PER_SEC)
                        .wrapping_add(i64::from(t.nsec)),
                )
            }),
            "Year" => int(c.year),
            "Month" => method0("time.Month", move || month_value(c.month)),
            "Day" => int(c.day),
            "Hour" => int(c.hour),
            "Minute" => int(c.min),
            "Second" => int(c.sec),
            "Nanosecond" => int(i64::from(t.nsec)),
            "YearDay" => int(c.yday),
            "Weekday" => method0("time.Weekday", move || weekday_value(c.weekday)),
            "IsZero" => method0("bool", move || Value::Bool(t.is_zero())),
            "UTC" => method0("time.Time", move || time_value(t.in_loc(Loc::utc()))),
            "Location" => method0("*time.Location", move || {
                Value::Object(Arc::new(LocationObj(t.loc.clone())))
            }),
            "Format" => Function::new(vec![ParamType::String], false, "string", false, move |a| {
                let layout = a.first().map(Arg::value);
                ok(Value::String(
                    t.format(layout.as_ref().and_then(Value::as_str).unwrap_or("")),
                ))
            }),
            "Add" => Function::new(vec![ParamType::Int64], false, "time.Time", false, move |a| {
                ok(time_value(t.add(arg_i64(a, 0))))
            }),
            "AddDate" => Function::new(
                vec![ParamType::Int, ParamType::Int, ParamType::Int],
                false,
                "time.Time",
                false,
                move |a| {
                    ok(time_value(t.add_date(
                        arg_i64(a, 0),
                        arg_i64(a, 1),
                        arg_i64(a, 2),
                    )))
                },
            ),
            "Sub" => Function::new(
                vec![ParamType::Named("time.Time")],
                false,
                "time.Duration",
                false,
                move |a| ok(duration_value(t.sub(&arg_time(a, 0)))),
            ),
            "Before" | "After" | "Equal" | "Compare" => {
                let which = name.to_string();
                let result = if which == "Compare" { "int" } else { "bool" };
                Function::new(
                    vec![ParamType::Named("time.Time")],
                    false,
                    result,
                    false,
                    move |a| {
                        let u = arg_time(a, 0);
                        let ord = t.nanos().cmp(&u.nanos());
                        ok(match which.as_str() {
                            "Before" => Value::Bool(ord.is_lt()),
                            "After" => Value::Bool(ord.is_gt()),
                            "Equal" => Value::Bool(ord.is_eq()),
                            _ => Value::Int(ord as i64),
                        })
                    },
                )
            }
            "Truncate" | "Round" => {
                let round = name == "Round";
                Function::new(vec![ParamType::Int64], false, "time.Time", false, move |a| {
                    ok(time_value(t.round_to(arg_i64(a, 0), round)))
                })
            }
            "In" => Function::new(
                vec![ParamType::Named("*time.Location")],
                false,
                "time.Time",
                false,
                move |a| {
                    let loc = a.first().map(Arg::value);
                    match loc.as_ref().and_then(|v| match v {
                        Value::Object(o) => o.as_any().downcast_ref::<LocationObj>().map(|l| l.0.clone()),
                        _ => None,
                    }) {
                        Some(l) => ok(time_value(t.in_loc(l))),
                        None => Err("time: missing Location in call to Time.In".into()),
                    }
                },
            ),
            _ => return None,
        })
    }

    fn format_v(&self) -> String {
        self.0.to_go_string()
    }

    fn to_json(&self) -> Result<serde_json::Value, String> {
        let y = self.0.civil().year;
        if !(0..=9999).contains(&y) {
            return Err("Time.MarshalJSON: year outside of range [0,9999]".into());
        }
        Ok(serde_json::Value::String(
            self.0.format("2006-01-02T15:04:05.999999999Z07:00"),
        ))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A `time.Duration` (printed as `1h2m3s`).
pub(crate) struct DurationObj(pub i64);

pub(crate) fn duration_value(d: i64) -> Value {
    Value::Object(Arc::new(DurationObj(d)))
}

impl GoObject for DurationObj {
    fn type_name(&self) -> String {
        "time.Duration".into()
    }
    fn method(&self, name: &str) -> Option<Function> {
        let d = self.0;
        let float = |div: f64| {
            method0("float64", move || {
                let whole = d / div as i64;
                let rest = d % div as i64;
                Value::Float(whole as f64 + rest as f64 / div)
            })
        };
        Some(match name {
            "String" => method0("string", move || Value::String(gotime::duration_string(d))),
            "Nanoseconds" => method0("int64", move || Value::Int64(d)),
            "Microseconds" => method0("int64", move || Value::Int64(d / 1000)),
            "Milliseconds" => method0("int64", move || Value::Int64(d / 1_000_000)),
            "Seconds" => float(1e9),
            "Minutes" => float(60e9),
            "Hours" => float(3600e9),
            _ => return None,
        })
    }
    fn format_v(&self) -> String {
        gotime::duration_string(self.0)
    }
    fn to_json(&self) -> Result<serde_json::Value, String> {
        Ok(serde_json::Value::from(self.0))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A `time.Month` or `time.Weekday`: an integer that prints as its English name.
struct NamedInt {
    type_name: &'static str,
    n: i64,
    name: String,
}

fn month_value(m: i64) -> Value {
    let name = match usize::try_from(m - 1)
        .ok()
        .and_then(|i| gotime::LONG_MONTHS.get(i))
    {
        Some(n) => n.to_string(),
        None => format!("%!Month({m})"),
    };
    Value::Object(Arc::new(NamedInt {
        type_name: "time.Month",
        n: m,
        name,
    }))
}

fn weekday_value(d: i64) -> Value {
    let name = match usize::try_from(d).ok().and_then(|i| gotime::LONG_DAYS.get(i)) {
        Some(n) => n.to_string(),
        None => format!("%!Weekday({d})"),
    };
    Value::Object(Arc::new(NamedInt {
        type_name: "time.Weekday",
        n: d,
        name,
    }))
}

impl GoObject for NamedInt {
    fn type_name(&self) -> String {
        self.type_name.into()
    }
    fn method(&self, name: &str) -> Option<Function> {
        let s = self.name.clone();
        (name == "String").then(|| method0("string", move || Value::String(s.clone())))
    }
    fn format_v(&self) -> String {
        self.name.clone()
    }
    fn to_json(&self) -> Result<serde_json::Value, String> {
        Ok(serde_json::Value::from(self.n))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A `*time.Location`.
struct LocationObj(Loc);

impl GoObject for LocationObj {
    fn type_name(&self) -> String {
        "*time.Location".into()
    }
    fn method(&self, name: &str) -> Option<Function> {
        let s = self.0.name.clone();
        (name == "String").then(|| method0("string", move || Value::String(s.clone())))
    }
    fn format_v(&self) -> String {
        self.0.name.clone()
    }
    fn to_json(&self) -> Result<serde_json::Value, String> {
        Ok(serde_json::json!({}))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

// ---- the functions ----

/// sprig's reading of a date argument: a time, or Unix seconds from `int`/`int64`; anything
/// else is now.
fn date_arg(v: &Value, clock: &Clock) -> GoTime {
    match v {
        Value::Int(n) | Value::Int64(n) => GoTime::from_unix(*n, clock.local.clone()),
        v => match as_time(v) {
            Some(t) => t.clone(),
            None => clock.now(),
        },
    }
}

fn date_in_zone(layout: &str, date: &Value, zone: &str, clock: &Clock) -> String {
    let t = date_arg(date, clock);
    let loc = gotime::load_location(zone, &clock.local).unwrap_or_else(|_| Loc::utc());
    t.in_loc(loc).format(layout)
}

fn sarg(a: &[Arg], i: usize) -> String {
    match a.get(i).map(Arg::value) {
        Some(Value::String(s)) => s,
        _ => String::new(),
    }
}

fn varg(a: &[Arg], i: usize) -> Value {
    a.get(i).map(Arg::value).unwrap_or(Value::Nil)
}

/// Go's `strconv.ParseInt(s, 10, 64)` as sprig ignores its error: 0 for a syntax error, the
/// nearest limit when out of range.
fn parse_int_lenient(s: &str) -> i64 {
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return 0;
    }
    let mut n: i128 = 0;
    for c in digits.bytes() {
        n = n * 10 + i128::from(c - b'0');
        if n > i128::from(i64::MAX) + 1 {
            break;
        }
    }
    let n = if neg { -n } else { n };
    n.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// sprig's `durationRound`: the largest whole unit (y = 365 days, mo = 30 days) of the
/// duration, ignoring its sign.
fn duration_round(d: i64) -> String {
    let u = d.unsigned_abs();
    const H: u64 = 3_600_000_000_000;
    let units: [(u64, &str); 6] = [
        (H * 24 * 365, "y"),
        (H * 24 * 30, "mo"),
        (H * 24, "d"),
        (H, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
    ];
    for (n, name) in units {
        if u > n {
            return format!("{}{name}", u / n);
        }
    }
    "0s".into()
}

/// Registers the date functions with the real clock.
pub(super) fn register(m: &mut FuncMap, clock: &Clock) {
    use ParamType::{Any, Named, String as Str};
    let time = Named("time.Time");
    let mut add = |names: &[&str], f: Function| {
        for n in names {
            m.insert((*n).to_string(), f.clone());
        }
    };

    let c = clock.clone();
    add(
        &["now"],
        Function::new(vec![], false, "time.Time", false, move |_| {
            ok(time_value(c.now()))
        }),
    );

    let c = clock.clone();
    add(
        &["ago"],
        Function::new(vec![Any], false, "string", false, move |a| {
            let now = c.now();
            let t = match varg(a, 0) {
                Value::Int(n) | Value::Int64(n) => GoTime::from_unix(n, c.local.clone()),
                v => as_time(&v).cloned().unwrap_or_else(|| now.clone()),
            };
            let d = now.sub(&t);
            ok(Value::String(gotime::duration_string(round_duration(
                d,
                1_000_000_000,
            ))))
        }),
    );

    let c = clock.clone();
    add(
        &["date"],
        Function::new(vec![Str, Any], false, "string", false, move |a| {
            ok(Value::String(date_in_zone(&sarg(a, 0), &varg(a, 1), "Local", &c)))
        }),
    );
    let c = clock.clone();
    add(
        &["dateInZone", "date_in_zone"],
        Function::new(vec![Str, Any, Str], false, "string", false, move |a| {
            ok(Value::String(date_in_zone(
                &sarg(a, 0),
                &varg(a, 1),
                &sarg(a, 2),
                &c,
            )))
        }),
    );
    let c = clock.clone();
    add(
        &["htmlDate"],
        Function::new(vec![Any], false, "string", false, move |a| {
            ok(Value::String(date_in_zone(
                "2006-01-02",
                &varg(a, 0),
                "Local",
                &c,
            )))
        }),
    );
    let c = clock.clone();
    add(
        &["htmlDateInZone"],
        Function::new(vec![Any, Str], false, "string", false, move |a| {
            ok(Value::String(date_in_zone(
                "2006-01-02",
                &varg(a, 0),
                &sarg(a, 1),
                &c,
            )))
        }),
    );

    add(
        &["dateModify", "date_modify"],
        Function::new(vec![Str, time], false, "time.Time", false, move |a| {
            let t = arg_time(a, 1);
            ok(time_value(match gotime::parse_duration(&sarg(a, 0)) {
                Ok(d) => t.add(d),
                Err(_) => t,
            }))
        }),
    );
    add(
        &["mustDateModify", "must_date_modify"],
        Function::new(vec![Str, time], false, "time.Time", true, move |a| {
            let d = gotime::parse_duration(&sarg(a, 0))?;
            ok(time_value(arg_time(a, 1).add(d)))
        }),
    );

    add(
        &["duration"],
        Function::new(vec![Any], false, "string", false, move |a| {
            let n = match varg(a, 0) {
                Value::String(s) => parse_int_lenient(&s),
                Value::Int64(n) => n,
                _ => 0,
            };
            ok(Value::String(gotime::duration_string(
                n.wrapping_mul(1_000_000_000),
            )))
        }),
    );

    let c = clock.clone();
    add(
        &["durationRound"],
        Function::new(vec![Any], false, "string", false, move |a| {
            let v = varg(a, 0);
            let d = match &v {
                Value::String(s) => gotime::parse_duration(s).unwrap_or(0),
                Value::Int64(n) => *n,
                v => match as_time(v) {
                    Some(t) => c.now().sub(t),
                    None => 0,
                },
            };
            ok(Value::String(duration_round(d)))
        }),
    );

    let c = clock.clone();
    add(
        &["toDate"],
        Function::new(vec![Str, Str], false, "time.Time", false, move |a| {
            let t = gotime::parse_in_location(&sarg(a, 0), &sarg(a, 1), &c.local, &c.local)
                .unwrap_or_else(|_| GoTime::zero());
            ok(time_value(t))
        }),
    );
    let c = clock.clone();
    add(
        &["mustToDate"],
        Function::new(vec![Str, Str], false, "time.Time", true, move |a| {
            let t = gotime::parse_in_location(&sarg(a, 0), &sarg(a, 1), &c.local, &c.local)?;
            ok(time_value(t))
        }),
    );

    add(
        &["unixEpoch"],
        Function::new(vec![time], false, "string", false, move |a| {
            ok(Value::String(arg_time(a, 0).unix.to_string()))
        }),
    );
}

/// Registers the date functions with a fixed clock (for other groups' tests).
#[cfg(test)]
pub(crate) fn register_for_tests(m: &mut FuncMap) {
    register(m, &Clock::fixed(1_700_000_000, 0, "Europe/Paris"));
}

/// `time.Duration.Round(m)`: to the nearest multiple of `m`, halfway away from zero,
/// saturating.
fn round_duration(d: i64, m: i64) -> i64 {
    if m <= 0 {
        return d;
    }
    let mut r = d % m;
    if d < 0 {
        r = -r;
        if r.wrapping_add(r) < m {
            return d + r;
        }
        return d.checked_sub(m).map(|x| x + r).unwrap_or(i64::MIN);
    }
    if r.wrapping_add(r) < m {
        return d - r;
    }
    d.checked_add(m).map(|x| x - r).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Template;

    fn render(clock: &Clock, text: &str) -> Result<String, String> {
        let mut m = FuncMap::new();
        register(&mut m, clock);
        let mut t = Template::new("t").funcs(m);
        t.add_parse("t", text).map_err(|e| e.to_string())?;
        t.execute(&Value::Nil, &crate::Options::default())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn now_and_ago_with_a_fixed_clock() {
        let c = Clock::fixed(1_700_000_000, 5, "Europe/Paris");
        assert_eq!(
            render(&c, "{{now}}").unwrap(),
            "2023-11-14 23:13:20.000000005 +0100 CET"
        );
        assert_eq!(render(&c, "{{ago 1699996400}}").unwrap(), "1h0m0s");
        assert_eq!(render(&c, "{{now | unixEpoch}}").unwrap(), "1700000000");
        assert_eq!(
            render(&c, "{{durationRound (toDate \"2006\" \"2020\")}}").unwrap(),
            "3y"
        );
        assert_eq!(
            render(&c, "{{date \"2006-01-02 MST\" .}}").unwrap(),
            "2023-11-14 CET"
        );
        assert_eq!(render(&c, "{{(now.Add 3600000000000).Hour}}").unwrap(), "0");
        assert_eq!(
            render(&c, "{{now.Month}} {{now.Weekday}}").unwrap(),
            "November Tuesday"
        );
    }

    #[test]
    fn times_marshal_as_rfc3339_nano() {
        let t = gotime::parse_in_location(
            "2006-01-02T15:04:05.999Z07:00",
            "2019-10-11T12:13:14.5+02:00",
            &Loc::utc(),
            &Loc::utc(),
        )
        .unwrap();
        assert_eq!(
            TimeObj(t).to_json().unwrap(),
            serde_json::json!("2019-10-11T12:13:14.5+02:00")
        );
        let far = GoTime::from_unix(253_402_300_800, Loc::utc());
        assert!(TimeObj(far).to_json().is_err());
        assert_eq!(DurationObj(1500).to_json().unwrap(), serde_json::json!(1500));
    }

    #[test]
    fn extreme_values_do_not_panic() {
        let c = Clock::fixed(0, 0, "UTC");
        for t in [
            "{{(now.AddDate 9223372036854775807 -9223372036854775808 9223372036854775807).Year}}",
            "{{(now.AddDate -9223372036854775808 9223372036854775807 -9223372036854775808)}}",
            "{{now.Add 9223372036854775807}} {{now.Add -9223372036854775808}}",
            "{{(now.Truncate 9223372036854775807)}} {{now.Round 3}}",
            "{{date \"2006-01-02 __2 Mon\" 9223372036854775807}} {{date \"2006\" -9223372036854775808}}",
            "{{dateInZone \"2006 MST\" 9223372036854775807 \"Europe/Paris\"}}",
            "{{duration \"-9223372036854775808\"}} {{durationRound \"-2562047h47m16.854775808s\"}}",
            "{{mustDateModify \"2562047h47m16.854775807s\" now}}",
            "{{toDate \".0000000000000 05.999999999999 __2 002 Z07:00:00 -07\" \"x\"}}",
            "{{toDate \"05.99999999999\" \"01.12345678901234\"}} {{toDate \"05,000\" \"01,123\"}}",
        ] {
            let _ = render(&c, t);
        }
    }

    #[test]
    fn system_now_has_a_monotonic_reading() {
        let c = Clock::system().with_local_zone("UTC");
        let s = render(&c, "{{now}}").unwrap();
        assert!(s.contains(" +0000 UTC m=+"), "{s}");
        let s = render(&Clock::system(), "{{now}}").unwrap();
        assert!(s.contains(" m=+"), "{s}");
        assert_eq!(render(&Clock::system(), "{{ago now}}").unwrap(), "0s");
    }
}
