//! sprig's math functions: add1, add, sub, div, mod, mul, randInt, add1f, addf, subf,
//! divf, mulf, biggest, max, min, maxf, minf, ceil, floor, round.
//!
//! The integer ones convert with cast.ToInt64 and wrap as Go's int64 does; the float ones
//! (`add1f` ... `mulf`) compute in shopspring/decimal: each operand becomes the decimal of
//! its shortest representation, sums and products are exact, quotients are rounded half
//! away from zero to 16 decimal places, and the result is the float64 nearest the
//! decimal (so `addf 1.1 2.2` is 3.3).

use num_bigint::{BigInt, Sign};
use rand::Rng;

use super::cast::{to_float64, to_int64};
use super::util::val;
use crate::value::{Arg, FuncMap, Function, ParamType, Value};

use ParamType::{Any, Float, Int};

pub(super) fn register(m: &mut FuncMap) {
    let mut add = |name: &str, f: Function| {
        m.insert(name.to_string(), f);
    };
    let i64s = |a: &[Arg]| -> Vec<i64> { a.iter().map(|x| to_int64(&val(x))).collect() };
    add(
        "add1",
        Function::new(vec![Any], false, "int64", false, move |a| {
            Ok(int64(i64s(a)[0].wrapping_add(1)))
        }),
    );
    add(
        "add",
        Function::new(vec![Any], true, "int64", false, move |a| {
            Ok(int64(i64s(a).into_iter().fold(0i64, i64::wrapping_add)))
        }),
    );
    add(
        "sub",
        Function::new(vec![Any, Any], false, "int64", false, move |a| {
            let v = i64s(a);
            Ok(int64(v[0].wrapping_sub(v[1])))
        }),
    );
    add(
        "div",
        Function::new(vec![Any, Any], false, "int64", false, move |a| {
            let v = i64s(a);
            if v[1] == 0 {
                return Err(DIVIDE_BY_ZERO.into());
            }
            Ok(int64(v[0].wrapping_div(v[1])))
        }),
    );
    add(
        "mod",
        Function::new(vec![Any, Any], false, "int64", false, move |a| {
            let v = i64s(a);
            if v[1] == 0 {
                return Err(DIVIDE_BY_ZERO.into());
            }
            Ok(int64(v[0].wrapping_rem(v[1])))
        }),
    );
    add(
        "mul",
        Function::new(vec![Any, Any], true, "int64", false, move |a| {
            Ok(int64(i64s(a).into_iter().reduce(i64::wrapping_mul).unwrap_or(0)))
        }),
    );
    add(
        "randInt",
        Function::new(vec![Int, Int], false, "int", false, |a| {
            let (min, max) = (int_of(&val(&a[0])), int_of(&val(&a[1])));
            rand_int(&mut rand::rng(), min, max).map(|i| Arg::Value(Value::Int(i)))
        }),
    );
    for name in ["biggest", "max"] {
        add(
            name,
            Function::new(vec![Any, Any], true, "int64", false, move |a| {
                Ok(int64(i64s(a).into_iter().max().unwrap_or(0)))
            }),
        );
    }
    add(
        "min",
        Function::new(vec![Any, Any], true, "int64", false, move |a| {
            Ok(int64(i64s(a).into_iter().min().unwrap_or(0)))
        }),
    );
    let f64s = |a: &[Arg]| -> Vec<f64> { a.iter().map(|x| to_float64(&val(x))).collect() };
    add(
        "maxf",
        Function::new(vec![Any, Any], true, "float64", false, move |a| {
            let v = f64s(a);
            Ok(float(v[1..].iter().fold(v[0], |m, &x| go_max(m, x))))
        }),
    );
    add(
        "minf",
        Function::new(vec![Any, Any], true, "float64", false, move |a| {
            let v = f64s(a);
            Ok(float(v[1..].iter().fold(v[0], |m, &x| go_min(m, x))))
        }),
    );
    add(
        "ceil",
        Function::new(vec![Any], false, "float64", false, move |a| {
            Ok(float(f64s(a)[0].ceil()))
        }),
    );
    add(
        "floor",
        Function::new(vec![Any], false, "float64", false, move |a| {
            Ok(float(f64s(a)[0].floor()))
        }),
    );
    add(
        "round",
        Function::new(vec![Any, Int, Float], true, "float64", false, move |a| {
            let x = to_float64(&val(&a[0]));
            let places = int_of(&val(&a[1]));
            let round_on = match a.get(2).map(val) {
                Some(Value::Float(f)) => f,
                _ => 0.5,
            };
            Ok(float(round(x, places, round_on)))
        }),
    );
    add(
        "add1f",
        Function::new(vec![Any], false, "float64", false, move |a| {
            decimal_op(f64s(a)[0], &[1.0], Op::Add)
        }),
    );
    add(
        "addf",
        Function::new(vec![Any], true, "float64", false, move |a| {
            decimal_op(0.0, &f64s(a), Op::Add)
        }),
    );
    for (name, op) in [("subf", Op::Sub), ("divf", Op::Div), ("mulf", Op::Mul)] {
        add(
            name,
            Function::new(vec![Any, Any], true, "float64", false, move |a| {
                let v = f64s(a);
                decimal_op(v[0], &v[1..], op)
            }),
        );
    }
}

const DIVIDE_BY_ZERO: &str = "runtime error: integer divide by zero";

fn int64(i: i64) -> Arg {
    Arg::Value(Value::Int64(i))
}

fn float(f: f64) -> Arg {
    Arg::Value(Value::Float(f))
}

fn int_of(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        _ => 0,
    }
}

/// randInt: `rand.Intn(max-min) + min`, failing as Intn does when the span is not
/// positive.
pub(crate) fn rand_int(r: &mut impl Rng, min: i64, max: i64) -> Result<i64, String> {
    let n = max.wrapping_sub(min);
    if n <= 0 {
        return Err("invalid argument to Intn".into());
    }
    Ok(r.random_range(0..n).wrapping_add(min))
}

/// Go's math.Max: +Inf wins, then NaN, and +0 over -0.
fn go_max(x: f64, y: f64) -> f64 {
    if x == f64::INFINITY || y == f64::INFINITY {
        f64::INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && x == y {
        if x.is_sign_negative() { y } else { x }
    } else if x > y {
        x
    } else {
        y
    }
}

/// Go's math.Min: -Inf wins, then NaN, and -0 over +0.
fn go_min(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY || y == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && x == y {
        if x.is_sign_negative() { x } else { y }
    } else if x < y {
        x
    } else {
        y
    }
}

/// Go's math.Pow(10, n) for an integer n: the mantissa squared and multiplied in
/// steps, the binary exponent kept apart (Go's algorithm, so the last bits agree).
fn pow10(n: i64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let (yi, neg) = (n.unsigned_abs(), n < 0);
    if yi >= 1 << 63 {
        return if neg { 0.0 } else { f64::INFINITY };
    }
    let (x1, xe) = frexp(10.0);
    let (mut a1, mut ae) = (1.0f64, 0i64);
    let (mut x1, mut xe) = (x1, xe);
    let mut i = yi;
    while i != 0 {
        if !(-(1 << 12)..=1 << 12).contains(&xe) {
            // catastrophic overflow or underflow
            ae += xe;
            break;
        }
        if i & 1 == 1 {
            a1 *= x1;
            ae += xe;
        }
        x1 *= x1;
        xe <<= 1;
        if x1 < 0.5 {
            x1 += x1;
            xe -= 1;
        }
        i >>= 1;
    }
    if neg {
        a1 = 1.0 / a1;
        ae = -ae;
    }
    ldexp(a1, ae)
}

/// Go's math.Frexp for a normal, finite, non-zero x.
fn frexp(x: f64) -> (f64, i64) {
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64 - 1022;
    let frac = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (frac, exp)
}

/// Go's math.Ldexp.
fn ldexp(frac: f64, exp: i64) -> f64 {
    if frac == 0.0 || frac.is_infinite() || frac.is_nan() {
        return frac;
    }
    let (frac, e) = normalize(frac);
    let mut exp = exp + e;
    let bits = frac.to_bits();
    exp += ((bits >> 52) & 0x7ff) as i64 - 1023;
    if exp < -1075 {
        return 0.0f64.copysign(frac);
    }
    if exp > 1023 {
        return if frac < 0.0 {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }
    let mut m = 1.0;
    if exp < -1022 {
        exp += 53;
        m = 1.0 / (1u64 << 53) as f64;
    }
    let bits = (bits & !(0x7ff << 52)) | (((exp + 1023) as u64) << 52);
    m * f64::from_bits(bits)
}

fn normalize(x: f64) -> (f64, i64) {
    if x.abs() < f64::MIN_POSITIVE {
        (x * (1u64 << 52) as f64, -52)
    } else {
        (x, 0)
    }
}

/// sprig's round: x scaled by 10^places, up when its fraction reaches `round_on`, down
/// otherwise, scaled back.
fn round(x: f64, places: i64, round_on: f64) -> f64 {
    let pow = pow10(places);
    let digit = pow * x;
    // Go's math.Modf: the fraction keeps the sign; infinities give NaN, NaN stays
    let frac = if digit.is_infinite() {
        f64::NAN
    } else {
        digit - digit.trunc()
    };
    let r = if frac >= round_on {
        digit.ceil()
    } else {
        digit.floor()
    };
    r / pow
}

#[derive(Clone, Copy)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

/// A shopspring/decimal value: coefficient × 10^exp.
#[derive(Clone, Debug)]
struct Decimal {
    coef: BigInt,
    exp: i64,
}

/// The digits of shopspring/decimal's division results after the point.
const DIVISION_PRECISION: i64 = 16;

impl Decimal {
    /// decimal.NewFromFloat: the shortest decimal that reads back as f.
    fn from_float(f: f64) -> Result<Decimal, String> {
        if f.is_nan() || f.is_infinite() {
            return Err(format!(
                "Cannot create a Decimal from {}",
                crate::gofmt::format_v(&Value::Float(f))
            ));
        }
        if f == 0.0 {
            return Ok(Decimal {
                coef: BigInt::from(0),
                exp: 0,
            });
        }
        // Rust's {:e} gives the shortest round-tripping digits, as decimal's
        // roundShortest does
        let text = format!("{:e}", f);
        let (mant, e) = text.split_once('e').unwrap_or((&text, "0"));
        let e: i64 = e.parse().unwrap_or(0);
        let (int_part, frac) = mant.split_once('.').unwrap_or((mant, ""));
        let digits = format!("{int_part}{frac}");
        let coef = digits.parse::<BigInt>().unwrap_or_default();
        Ok(Decimal {
            coef,
            exp: e - frac.len() as i64,
        })
    }

    fn rescaled(&self, exp: i64) -> BigInt {
        // only ever to a smaller exponent
        &self.coef * BigInt::from(10u32).pow((self.exp - exp) as u32)
    }

    fn add(&self, o: &Decimal, negate: bool) -> Decimal {
        let exp = self.exp.min(o.exp);
        let b = o.rescaled(exp);
        let coef = if negate {
            self.rescaled(exp) - b
        } else {
            self.rescaled(exp) + b
        };
        Decimal { coef, exp }
    }

    fn mul(&self, o: &Decimal) -> Decimal {
        Decimal {
            coef: &self.coef * &o.coef,
            exp: self.exp + o.exp,
        }
    }

    /// DivRound(o, 16): the quotient rounded half away from zero at 10^-16.
    fn div(&self, o: &Decimal) -> Result<Decimal, String> {
        if o.coef.sign() == Sign::NoSign {
            return Err("decimal division by 0".into());
        }
        // self / o * 10^16 = a * 10^e / b
        let e = self.exp - o.exp + DIVISION_PRECISION;
        let (num, den) = if e >= 0 {
            (&self.coef * BigInt::from(10u32).pow(e as u32), o.coef.clone())
        } else {
            (self.coef.clone(), &o.coef * BigInt::from(10u32).pow((-e) as u32))
        };
        let q = &num / &den;
        let r = &num - &q * &den;
        let twice_r = r.magnitude() * 2u32;
        let q = if twice_r < *den.magnitude() {
            q
        } else if (self.coef.sign() == Sign::Minus) != (o.coef.sign() == Sign::Minus) {
            q - 1
        } else {
            q + 1
        };
        Ok(Decimal {
            coef: q,
            exp: -DIVISION_PRECISION,
        })
    }

    /// Float64(): the nearest float64 (ties to even, as big.Rat's).
    fn to_float(&self) -> f64 {
        format!("{}e{}", self.coef, self.exp)
            .parse::<f64>()
            .unwrap_or(0.0)
    }
}

/// sprig's execDecimalOp: the first operand and then each of the rest through `op`.
fn decimal_op(first: f64, rest: &[f64], op: Op) -> Result<Arg, String> {
    let mut acc = Decimal::from_float(first)?;
    for &x in rest {
        let d = Decimal::from_float(x)?;
        // exponents stay within a few thousand: floats span 10^-324..10^308
        acc = match op {
            Op::Add => acc.add(&d, false),
            Op::Sub => acc.add(&d, true),
            Op::Mul => acc.mul(&d),
            Op::Div => acc.div(&d)?,
        };
        if acc.exp.abs() > 100_000 {
            return Err(format!("exponent {} overflows an int32!", acc.exp));
        }
    }
    Ok(float(acc.to_float()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(first: f64, rest: &[f64], o: Op) -> f64 {
        match decimal_op(first, rest, o) {
            Ok(Arg::Value(Value::Float(f))) => f,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn decimal_ops() {
        assert_eq!(op(1.1, &[2.2], Op::Add), 3.3);
        assert_eq!(op(0.3, &[0.1], Op::Sub), 0.2);
        assert_eq!(op(1.0, &[3.0], Op::Div), 0.3333333333333333);
        assert_eq!(op(2.0, &[3.0], Op::Div), 0.6666666666666667);
        assert_eq!(op(-2.0, &[3.0], Op::Div), -0.6666666666666667);
        assert_eq!(op(1e-20, &[1.0], Op::Div), 0.0);
        assert_eq!(op(1.1, &[1.1], Op::Mul), 1.21);
        assert_eq!(op(1e308, &[1e-308], Op::Add), 1e308);
        assert!(decimal_op(1.0, &[0.0], Op::Div).is_err());
        assert!(decimal_op(f64::NAN, &[], Op::Add).is_err());
    }

    #[test]
    fn pow10_and_round() {
        for n in 0..=22 {
            assert_eq!(pow10(n), format!("1e{n}").parse::<f64>().unwrap_or(0.0));
        }
        assert_eq!(pow10(-1), 0.1);
        assert_eq!(round(1.23456, 2, 0.5), 1.23);
        assert_eq!(round(2.5, 0, 0.5), 3.0);
        assert_eq!(round(-2.5, 0, 0.5), -3.0);
        assert_eq!(round(1.23, 1, 0.3), 1.3);
        assert_eq!(round(1.22, 1, 0.3), 1.2);
    }

    #[test]
    fn rand_int_properties() {
        let mut r = rand::rng();
        for _ in 0..2000 {
            let v = rand_int(&mut r, -3, 4).unwrap_or(99);
            assert!((-3..4).contains(&v), "{v}");
        }
        let mut seen = [false; 7];
        for _ in 0..2000 {
            if let Ok(v) = rand_int(&mut r, 0, 7) {
                seen[v as usize] = true;
            }
        }
        assert!(seen.iter().all(|s| *s), "every value turns up");
        assert_eq!(rand_int(&mut r, 5, 6), Ok(5));
        assert_eq!(rand_int(&mut r, 5, 5), Err("invalid argument to Intn".into()));
        assert!(rand_int(&mut r, 6, 5).is_err());
        // the span wraps as Go's int does
        assert!(rand_int(&mut r, i64::MIN, i64::MAX).is_err());
        assert!(rand_int(&mut r, i64::MAX - 1, i64::MAX).is_ok());
    }

    fn render(t: &str) -> Result<String, String> {
        let tpl = crate::Template::new("t").funcs(crate::sprig::funcs());
        let mut tpl = tpl;
        tpl.add_parse("t", t).map_err(|e| e.to_string())?;
        tpl.execute(&Value::Nil, &crate::Options::default())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn rand_int_in_templates() {
        // the texts Go gives (recorded with the oracle)
        let want = |call: &str| {
            format!(
                "template: t:1:2: executing \"t\" at <{call}>: error calling randInt: invalid argument to Intn"
            )
        };
        assert_eq!(render("{{randInt 5 5}}"), Err(want("randInt 5 5")));
        assert_eq!(render("{{randInt 5 1}}"), Err(want("randInt 5 1")));
        assert_eq!(render("{{randInt 3 4}} {{randInt -2 -1}}"), Ok("3 -2".into()));
        assert_eq!(render("{{printf \"%T\" (randInt 0 9)}}"), Ok("int".into()));
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..500 {
            let out = render("{{randInt -5 5}}").unwrap_or_default();
            let v: i64 = out.parse().unwrap_or(99);
            assert!((-5..5).contains(&v), "{out}");
            seen.insert(v);
        }
        assert_eq!(seen.len(), 10, "all ten values turn up: {seen:?}");
    }
}
