//! Holds the expression compiler to its claim: whatever `compile_condition` and `compile_number`
//! accept evaluates to the same value, or fails, exactly when the `cel` interpreter does.
//!
//! The oracle is the interpreter itself. Random well-typed expression trees over a fixed set of
//! fields are rendered to CEL source, compiled by both, and run on random field values that lean
//! on the edges (zero, the ends of the int range, infinities, NaN). Plain tests pin the tricky
//! semantics by name, and the last tests check that what lies outside the subset is refused with
//! a message that points into the source.

use cel::{Context, Program, Value};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use standing_core::{FieldType, FieldValue};
use standing_rules::expr::{
    EvalError, NumberExpr, Variable, VariableKind, compile_condition, compile_number,
};
use std::fmt;
use std::sync::Arc;

const KIND_NAMES: [&str; 3] = ["alpha", "beta", "gamma"];

/// String literals the generator draws from: the enum's names, prefixes of them, the empty
/// string, and non-ASCII text (so `size()` counting chars rather than bytes shows).
const STRING_LITERALS: [&str; 9] = ["", "a", "al", "alpha", "beta", "gamma", "ab", "é", "b✓z"];

/// Every field an expression may read, in slot order: `Inputs::field_values` fills the same slots.
fn variables() -> Vec<Variable> {
    let kind_names = KIND_NAMES.iter().map(|name| Box::from(*name)).collect();
    [
        ("a", FieldType::Integer),
        ("b", FieldType::Integer),
        ("x", FieldType::Decimal),
        ("y", FieldType::Decimal),
        ("flag", FieldType::Boolean),
        ("s", FieldType::String),
        ("kind", FieldType::Enum(kind_names)),
    ]
    .into_iter()
    .enumerate()
    .map(|(slot, (name, ty))| Variable {
        name: name.to_owned(),
        kind: VariableKind::Value {
            ty,
            slot,
            read: name.to_owned(),
        },
    })
    .collect()
}

/// One event's field values.
#[derive(Clone, Debug)]
struct Inputs {
    a: i64,
    b: i64,
    x: f64,
    y: f64,
    flag: bool,
    s: String,
    kind: u16,
}

impl Inputs {
    fn field_values(&self) -> Vec<FieldValue> {
        vec![
            FieldValue::Int(self.a),
            FieldValue::Int(self.b),
            FieldValue::Dec(self.x),
            FieldValue::Dec(self.y),
            FieldValue::Bool(self.flag),
            FieldValue::Str(self.s.as_str().into()),
            FieldValue::Enum(self.kind),
        ]
    }

    /// The same values as the interpreter sees them; an enum field reads as its name.
    fn context(&self) -> Context<'static, 'static> {
        let mut context = Context::default();
        context.add_variable_from_value("a", Value::Int(self.a));
        context.add_variable_from_value("b", Value::Int(self.b));
        context.add_variable_from_value("x", Value::Float(self.x));
        context.add_variable_from_value("y", Value::Float(self.y));
        context.add_variable_from_value("flag", Value::Bool(self.flag));
        context.add_variable_from_value("s", Value::String(Arc::new(self.s.clone())));
        let kind = KIND_NAMES[usize::from(self.kind)].to_owned();
        context.add_variable_from_value("kind", Value::String(Arc::new(kind)));
        context
    }
}

impl Default for Inputs {
    fn default() -> Self {
        Inputs {
            a: 0,
            b: 0,
            x: 0.0,
            y: 0.0,
            flag: false,
            s: String::new(),
            kind: 0,
        }
    }
}

fn edgy_int() -> impl Strategy<Value = i64> {
    prop_oneof![
        prop::sample::select(vec![
            0,
            1,
            -1,
            2,
            -2,
            7,
            -7,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1
        ]),
        -100i64..100,
        any::<i64>(),
    ]
}

/// Doubles at the edges: signed zeros, the bounds of `int()` (±2^63 and the largest double
/// below it), overflow to infinity. Intake refuses non-finite decimals, but arithmetic on finite
/// ones reaches infinity and NaN anyway (`1e308 * 10.0`, `0.0 / 0.0`), so the compiler must
/// handle them exactly as the interpreter does; NaN and infinity in fields only get there faster.
fn edgy_double() -> impl Strategy<Value = f64> {
    prop_oneof![
        prop::sample::select(vec![
            0.0,
            -0.0,
            1.0,
            -1.5,
            0.5,
            1e308,
            -1e308,
            f64::MAX,
            f64::MIN_POSITIVE,
            9_223_372_036_854_775_808.0,
            -9_223_372_036_854_775_808.0,
            9_223_372_036_854_774_784.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ]),
        -100.0f64..100.0,
        any::<f64>(),
    ]
}

fn inputs() -> impl Strategy<Value = Inputs> {
    (
        edgy_int(),
        edgy_int(),
        edgy_double(),
        edgy_double(),
        any::<bool>(),
        prop::sample::select(STRING_LITERALS.to_vec()),
        0..KIND_NAMES.len() as u16,
    )
        .prop_map(|(a, b, x, y, flag, s, kind)| Inputs {
            a,
            b,
            x,
            y,
            flag,
            s: s.to_owned(),
            kind,
        })
}

#[derive(Clone, Copy, Debug)]
enum Arithmetic {
    Add,
    Subtract,
    Multiply,
    Divide,
    Modulo,
}

impl Arithmetic {
    fn symbol(self) -> &'static str {
        match self {
            Arithmetic::Add => "+",
            Arithmetic::Subtract => "-",
            Arithmetic::Multiply => "*",
            Arithmetic::Divide => "/",
            Arithmetic::Modulo => "%",
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Comparison {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Comparison {
    fn symbol(self) -> &'static str {
        match self {
            Comparison::Equal => "==",
            Comparison::NotEqual => "!=",
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
            Comparison::Greater => ">",
            Comparison::GreaterOrEqual => ">=",
        }
    }

    fn is_equality(self) -> bool {
        matches!(self, Comparison::Equal | Comparison::NotEqual)
    }
}

#[derive(Clone)]
enum StringOperand {
    S,
    Kind,
    Literal(&'static str),
}

#[derive(Clone, Copy, Debug)]
enum StringMethod {
    StartsWith,
    EndsWith,
    Contains,
}

#[derive(Clone)]
enum IntExpr {
    Literal(i64),
    Field(&'static str),
    Negate(Box<IntExpr>),
    Arithmetic(Arithmetic, Box<IntExpr>, Box<IntExpr>),
    Conditional(Box<BoolExpr>, Box<IntExpr>, Box<IntExpr>),
    FromDouble(Box<DoubleExpr>),
    /// `size(operand)`, or `operand.size()` when the flag is set.
    Size(StringOperand, bool),
}

#[derive(Clone)]
enum DoubleExpr {
    Literal(f64),
    Field(&'static str),
    Negate(Box<DoubleExpr>),
    /// Never `Arithmetic::Modulo`: CEL defines `%` on ints only.
    Arithmetic(Arithmetic, Box<DoubleExpr>, Box<DoubleExpr>),
    Conditional(Box<BoolExpr>, Box<DoubleExpr>, Box<DoubleExpr>),
    FromInt(Box<IntExpr>),
}

#[derive(Clone)]
enum BoolExpr {
    Literal(bool),
    Flag,
    Not(Box<BoolExpr>),
    And(Box<BoolExpr>, Box<BoolExpr>),
    Or(Box<BoolExpr>, Box<BoolExpr>),
    Conditional(Box<BoolExpr>, Box<BoolExpr>, Box<BoolExpr>),
    CompareInts(Comparison, Box<IntExpr>, Box<IntExpr>),
    CompareDoubles(Comparison, Box<DoubleExpr>, Box<DoubleExpr>),
    /// `==` when the flag is set, `!=` otherwise: bools have no order.
    CompareBools(bool, Box<BoolExpr>, Box<BoolExpr>),
    CompareStrings(Comparison, StringOperand, StringOperand),
    IntIn(Box<IntExpr>, Vec<i64>),
    StringIn(StringOperand, Vec<&'static str>),
    StringMethod(StringMethod, StringOperand, &'static str),
}

// The trees print as the CEL source they stand for, so a shrunk failure reads as an expression.
// Every compound is parenthesised: precedence is not what is under test.

impl fmt::Display for StringOperand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StringOperand::S => f.write_str("s"),
            StringOperand::Kind => f.write_str("kind"),
            StringOperand::Literal(text) => write!(f, "'{text}'"),
        }
    }
}

/// A negative literal is written `(-N)`; the parser folds the sign into the literal, which is
/// how `-9223372036854775808` can be written at all.
fn write_int(f: &mut fmt::Formatter<'_>, value: i64) -> fmt::Result {
    if value < 0 {
        write!(f, "(-{})", value.unsigned_abs())
    } else {
        write!(f, "{value}")
    }
}

/// `{:?}` writes the shortest text that reads back as the same double, and always in a form
/// CEL's grammar takes as a double (`0.5`, `1e308`, `9.223372036854776e18`). Literals are finite.
fn write_double(f: &mut fmt::Formatter<'_>, value: f64) -> fmt::Result {
    if value.is_sign_negative() {
        write!(f, "(-{:?})", -value)
    } else {
        write!(f, "{value:?}")
    }
}

impl fmt::Display for IntExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntExpr::Literal(value) => write_int(f, *value),
            IntExpr::Field(name) => f.write_str(name),
            IntExpr::Negate(operand) => write!(f, "(-{operand})"),
            IntExpr::Arithmetic(op, left, right) => write!(f, "({left} {} {right})", op.symbol()),
            IntExpr::Conditional(condition, when_true, when_false) => {
                write!(f, "({condition} ? {when_true} : {when_false})")
            }
            IntExpr::FromDouble(operand) => write!(f, "int({operand})"),
            IntExpr::Size(operand, false) => write!(f, "size({operand})"),
            IntExpr::Size(operand, true) => write!(f, "{operand}.size()"),
        }
    }
}

impl fmt::Display for DoubleExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DoubleExpr::Literal(value) => write_double(f, *value),
            DoubleExpr::Field(name) => f.write_str(name),
            DoubleExpr::Negate(operand) => write!(f, "(-{operand})"),
            DoubleExpr::Arithmetic(op, left, right) => {
                write!(f, "({left} {} {right})", op.symbol())
            }
            DoubleExpr::Conditional(condition, when_true, when_false) => {
                write!(f, "({condition} ? {when_true} : {when_false})")
            }
            DoubleExpr::FromInt(operand) => write!(f, "double({operand})"),
        }
    }
}

impl fmt::Display for BoolExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BoolExpr::Literal(value) => write!(f, "{value}"),
            BoolExpr::Flag => f.write_str("flag"),
            BoolExpr::Not(operand) => write!(f, "(!{operand})"),
            BoolExpr::And(left, right) => write!(f, "({left} && {right})"),
            BoolExpr::Or(left, right) => write!(f, "({left} || {right})"),
            BoolExpr::Conditional(condition, when_true, when_false) => {
                write!(f, "({condition} ? {when_true} : {when_false})")
            }
            BoolExpr::CompareInts(op, left, right) => {
                write!(f, "({left} {} {right})", op.symbol())
            }
            BoolExpr::CompareDoubles(op, left, right) => {
                write!(f, "({left} {} {right})", op.symbol())
            }
            BoolExpr::CompareBools(equal, left, right) => {
                let symbol = if *equal { "==" } else { "!=" };
                write!(f, "({left} {symbol} {right})")
            }
            BoolExpr::CompareStrings(op, left, right) => {
                write!(f, "({left} {} {right})", op.symbol())
            }
            BoolExpr::IntIn(element, list) => {
                write!(f, "({element} in [")?;
                for (index, value) in list.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write_int(f, *value)?;
                }
                f.write_str("])")
            }
            BoolExpr::StringIn(element, list) => {
                let quoted: Vec<String> = list.iter().map(|text| format!("'{text}'")).collect();
                write!(f, "({element} in [{}])", quoted.join(", "))
            }
            BoolExpr::StringMethod(method, target, argument) => {
                let name = match method {
                    StringMethod::StartsWith => "startsWith",
                    StringMethod::EndsWith => "endsWith",
                    StringMethod::Contains => "contains",
                };
                write!(f, "{target}.{name}('{argument}')")
            }
        }
    }
}

// proptest prints failing inputs with `Debug`: show the source, not the tree.
macro_rules! debug_as_source {
    ($($ty:ty),*) => {$(
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }
    )*};
}
debug_as_source!(StringOperand, IntExpr, DoubleExpr, BoolExpr);

fn string_operand() -> impl Strategy<Value = StringOperand> {
    prop_oneof![
        Just(StringOperand::S),
        Just(StringOperand::Kind),
        prop::sample::select(STRING_LITERALS.to_vec()).prop_map(StringOperand::Literal),
    ]
}

/// The compiler refuses `kind == 'x'` and `kind in ['x']` when `x` is not one of the enum's
/// names (the test could never pass), so the generator only writes real names there.
fn enum_name_for(text: &'static str) -> &'static str {
    if KIND_NAMES.contains(&text) {
        text
    } else {
        KIND_NAMES[text.len() % KIND_NAMES.len()]
    }
}

fn comparison() -> impl Strategy<Value = Comparison> {
    prop::sample::select(vec![
        Comparison::Equal,
        Comparison::NotEqual,
        Comparison::Less,
        Comparison::LessOrEqual,
        Comparison::Greater,
        Comparison::GreaterOrEqual,
    ])
}

fn int_leaf() -> BoxedStrategy<IntExpr> {
    prop_oneof![
        3 => edgy_int().prop_map(IntExpr::Literal),
        3 => prop::sample::select(vec!["a", "b"]).prop_map(IntExpr::Field),
        1 => (string_operand(), any::<bool>()).prop_map(|(operand, method)| IntExpr::Size(operand, method)),
    ]
    .boxed()
}

fn double_leaf() -> BoxedStrategy<DoubleExpr> {
    prop_oneof![
        edgy_double()
            .prop_filter("literals are finite", |value| value.is_finite())
            .prop_map(DoubleExpr::Literal),
        prop::sample::select(vec!["x", "y"]).prop_map(DoubleExpr::Field),
    ]
    .boxed()
}

fn bool_leaf() -> BoxedStrategy<BoolExpr> {
    let string_comparison =
        (comparison(), string_operand(), string_operand()).prop_map(|(op, left, right)| {
            match (op.is_equality(), left, right) {
                (true, StringOperand::Kind, StringOperand::Literal(text)) => {
                    BoolExpr::CompareStrings(
                        op,
                        StringOperand::Kind,
                        StringOperand::Literal(enum_name_for(text)),
                    )
                }
                (true, StringOperand::Literal(text), StringOperand::Kind) => {
                    BoolExpr::CompareStrings(
                        op,
                        StringOperand::Literal(enum_name_for(text)),
                        StringOperand::Kind,
                    )
                }
                (_, left, right) => BoolExpr::CompareStrings(op, left, right),
            }
        });
    let string_list = prop::collection::vec(prop::sample::select(STRING_LITERALS.to_vec()), 0..4);
    let string_in = (string_operand(), string_list).prop_map(|(element, list)| match element {
        StringOperand::Kind => {
            BoolExpr::StringIn(element, list.into_iter().map(enum_name_for).collect())
        }
        _ => BoolExpr::StringIn(element, list),
    });
    let string_method = (
        prop::sample::select(vec![
            StringMethod::StartsWith,
            StringMethod::EndsWith,
            StringMethod::Contains,
        ]),
        string_operand(),
        prop::sample::select(STRING_LITERALS.to_vec()),
    )
        .prop_map(|(method, target, argument)| BoolExpr::StringMethod(method, target, argument));
    prop_oneof![
        any::<bool>().prop_map(BoolExpr::Literal),
        Just(BoolExpr::Flag),
        string_comparison,
        string_in,
        string_method,
    ]
    .boxed()
}

#[derive(Clone)]
struct Trees {
    int: BoxedStrategy<IntExpr>,
    double: BoxedStrategy<DoubleExpr>,
    boolean: BoxedStrategy<BoolExpr>,
}

/// Trees up to `depth` compounds deep. Built level by level, each from the one below, so the
/// three types can nest in one another (a ternary's condition inside an int, `int()` of a double)
/// without the strategy itself growing exponentially.
fn trees(depth: u32) -> Trees {
    let mut level = Trees {
        int: int_leaf(),
        double: double_leaf(),
        boolean: bool_leaf(),
    };
    for _ in 0..depth {
        let Trees {
            int,
            double,
            boolean,
        } = level.clone();
        let int_arithmetic = prop::sample::select(vec![
            Arithmetic::Add,
            Arithmetic::Subtract,
            Arithmetic::Multiply,
            Arithmetic::Divide,
            Arithmetic::Modulo,
        ]);
        let double_arithmetic = prop::sample::select(vec![
            Arithmetic::Add,
            Arithmetic::Subtract,
            Arithmetic::Multiply,
            Arithmetic::Divide,
        ]);
        let next_int = prop_oneof![
            1 => int_leaf(),
            1 => int.clone().prop_map(|operand| IntExpr::Negate(Box::new(operand))),
            4 => (int_arithmetic, int.clone(), int.clone()).prop_map(|(op, left, right)| {
                IntExpr::Arithmetic(op, Box::new(left), Box::new(right))
            }),
            1 => (boolean.clone(), int.clone(), int.clone()).prop_map(|(c, t, f)| {
                IntExpr::Conditional(Box::new(c), Box::new(t), Box::new(f))
            }),
            1 => double.clone().prop_map(|operand| IntExpr::FromDouble(Box::new(operand))),
        ]
        .boxed();
        let next_double = prop_oneof![
            1 => double_leaf(),
            1 => double.clone().prop_map(|operand| DoubleExpr::Negate(Box::new(operand))),
            4 => (double_arithmetic, double.clone(), double.clone()).prop_map(|(op, left, right)| {
                DoubleExpr::Arithmetic(op, Box::new(left), Box::new(right))
            }),
            1 => (boolean.clone(), double.clone(), double.clone()).prop_map(|(c, t, f)| {
                DoubleExpr::Conditional(Box::new(c), Box::new(t), Box::new(f))
            }),
            1 => int.clone().prop_map(|operand| DoubleExpr::FromInt(Box::new(operand))),
        ]
        .boxed();
        let int_list = prop::collection::vec(edgy_int(), 0..4);
        let next_boolean = prop_oneof![
            1 => bool_leaf(),
            1 => boolean.clone().prop_map(|operand| BoolExpr::Not(Box::new(operand))),
            2 => (boolean.clone(), boolean.clone())
                .prop_map(|(left, right)| BoolExpr::And(Box::new(left), Box::new(right))),
            2 => (boolean.clone(), boolean.clone())
                .prop_map(|(left, right)| BoolExpr::Or(Box::new(left), Box::new(right))),
            1 => (boolean.clone(), boolean.clone(), boolean.clone()).prop_map(|(c, t, f)| {
                BoolExpr::Conditional(Box::new(c), Box::new(t), Box::new(f))
            }),
            3 => (comparison(), int.clone(), int.clone()).prop_map(|(op, left, right)| {
                BoolExpr::CompareInts(op, Box::new(left), Box::new(right))
            }),
            3 => (comparison(), double.clone(), double.clone()).prop_map(|(op, left, right)| {
                BoolExpr::CompareDoubles(op, Box::new(left), Box::new(right))
            }),
            1 => (any::<bool>(), boolean.clone(), boolean.clone()).prop_map(|(equal, left, right)| {
                BoolExpr::CompareBools(equal, Box::new(left), Box::new(right))
            }),
            1 => (int.clone(), int_list)
                .prop_map(|(element, list)| BoolExpr::IntIn(Box::new(element), list)),
        ]
        .boxed();
        level = Trees {
            int: next_int,
            double: next_double,
            boolean: next_boolean,
        };
    }
    level
}

const DEPTH: u32 = 4;

/// What an evaluation came to. Failures are compared only as failures: when both operands of
/// `&&` fail, which error wins is not CEL's contract, and the interpreter's errors carry no
/// `EvalError` kind to compare with. The plain tests below pin the kinds that matter.
#[derive(Clone, Debug)]
enum Outcome {
    Int(i64),
    Double(f64),
    Bool(bool),
    Failed(String),
}

impl PartialEq for Outcome {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Outcome::Int(a), Outcome::Int(b)) => a == b,
            // Bitwise, so `0.0` and `-0.0` differ; a NaN is a NaN whatever its payload.
            (Outcome::Double(a), Outcome::Double(b)) => {
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
            }
            (Outcome::Bool(a), Outcome::Bool(b)) => a == b,
            (Outcome::Failed(_), Outcome::Failed(_)) => true,
            _ => false,
        }
    }
}

fn failed(error: EvalError) -> Outcome {
    Outcome::Failed(format!("{error:?}"))
}

fn interpret(source: &str, inputs: &Inputs) -> Outcome {
    let program = Program::compile(source)
        .unwrap_or_else(|errors| panic!("the interpreter cannot parse `{source}`: {errors}"));
    match program.execute(&inputs.context()) {
        Ok(Value::Int(value)) => Outcome::Int(value),
        Ok(Value::Float(value)) => Outcome::Double(value),
        Ok(Value::Bool(value)) => Outcome::Bool(value),
        Ok(other) => panic!("`{source}` gave {other:?}, which no generated tree should"),
        Err(error) => Outcome::Failed(error.to_string()),
    }
}

/// The type a tree has, which decides how its compiled form is called.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Type {
    Int,
    Double,
    Bool,
}

fn run_compiled(source: &str, ty: Type, inputs: &Inputs) -> Result<Outcome, String> {
    let variables = variables();
    let values = inputs.field_values();
    let refused = |problems| format!("the compiler refused well-typed `{source}`: {problems:?}");
    if ty == Type::Bool {
        let compiled = compile_condition(source, &variables).map_err(refused)?;
        return Ok(match compiled.expr.eval(&values) {
            Ok(value) => Outcome::Bool(value),
            Err(error) => failed(error),
        });
    }
    let compiled = compile_number(source, &variables).map_err(refused)?;
    // Call the typed closure rather than `NumberExpr::eval`, which widens ints to f64 and
    // would hide an int that is off by less than a double's precision.
    Ok(match (ty, &compiled.expr) {
        (Type::Int, NumberExpr::Int(function)) => match function(&values) {
            Ok(value) => Outcome::Int(value),
            Err(error) => failed(error),
        },
        (Type::Double, NumberExpr::Double(function)) => match function(&values) {
            Ok(value) => Outcome::Double(value),
            Err(error) => failed(error),
        },
        (_, other) => {
            return Err(format!(
                "`{source}` should compile to {ty:?}, not {other:?}"
            ));
        }
    })
}

fn check_against_interpreter(source: &str, ty: Type, inputs: &Inputs) -> Result<(), TestCaseError> {
    let compiled = run_compiled(source, ty, inputs).map_err(TestCaseError::fail)?;
    let interpreted = interpret(source, inputs);
    prop_assert_eq!(
        &compiled,
        &interpreted,
        "`{}` on {:?}: compiled {:?}, interpreter {:?}",
        source,
        inputs,
        compiled,
        interpreted
    );
    Ok(())
}

proptest! {
    // No regression file: a shrunk failure worth keeping becomes a named test below.
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn int_expressions_agree_with_the_interpreter(
        expression in trees(DEPTH).int,
        inputs in inputs(),
    ) {
        check_against_interpreter(&expression.to_string(), Type::Int, &inputs)?;
    }

    #[test]
    fn double_expressions_agree_with_the_interpreter(
        expression in trees(DEPTH).double,
        inputs in inputs(),
    ) {
        check_against_interpreter(&expression.to_string(), Type::Double, &inputs)?;
    }

    #[test]
    fn conditions_agree_with_the_interpreter(
        expression in trees(DEPTH).boolean,
        inputs in inputs(),
    ) {
        check_against_interpreter(&expression.to_string(), Type::Bool, &inputs)?;
    }
}

/// Runs `source` both ways on `inputs`, insists they agree, and returns the compiled outcome
/// (whose failure text names the `EvalError`).
fn agreed(source: &str, ty: Type, inputs: &Inputs) -> Outcome {
    let compiled = run_compiled(source, ty, inputs).unwrap_or_else(|message| panic!("{message}"));
    let interpreted = interpret(source, inputs);
    assert_eq!(
        compiled, interpreted,
        "`{source}`: compiled {compiled:?}, interpreter {interpreted:?}"
    );
    compiled
}

fn failure_kind(outcome: &Outcome) -> &str {
    match outcome {
        Outcome::Failed(kind) => kind,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn int_overflow_fails_in_both() {
    let inputs = Inputs::default();
    for source in [
        "9223372036854775807 + 1",
        "-9223372036854775808 - 1",
        "9223372036854775807 * 2",
        "-(-9223372036854775808)",
        "-9223372036854775808 / -1",
        "-9223372036854775808 % -1",
    ] {
        let outcome = agreed(source, Type::Int, &inputs);
        assert_eq!(failure_kind(&outcome), "Overflow", "`{source}`");
    }
}

#[test]
fn int_division_and_remainder_by_zero_fail_in_both() {
    let inputs = Inputs::default();
    let outcome = agreed("1 / 0", Type::Int, &inputs);
    assert_eq!(failure_kind(&outcome), "DivisionByZero");
    let outcome = agreed("1 % 0", Type::Int, &inputs);
    assert_eq!(failure_kind(&outcome), "ModuloByZero");
    // A double divided by zero is IEEE's business, not an error.
    assert_eq!(
        agreed("1.0 / 0.0", Type::Double, &inputs),
        Outcome::Double(f64::INFINITY)
    );
    assert_eq!(
        agreed("-1.0 / 0.0", Type::Double, &inputs),
        Outcome::Double(f64::NEG_INFINITY)
    );
}

#[test]
fn int_of_a_double_out_of_range_fails_in_both() {
    let inputs = Inputs::default();
    for source in [
        "int(1e300)",
        "int(-1e300)",
        "int(9223372036854775808.0)",
        // -2^63 is exactly i64::MIN, yet out of range: CEL's range is open at both ends.
        "int(-9223372036854775808.0)",
        "int(1e308 * 10.0)",
        "int(0.0 / 0.0)",
    ] {
        let outcome = agreed(source, Type::Int, &inputs);
        assert_eq!(failure_kind(&outcome), "ConversionOutOfRange", "`{source}`");
    }
    // The largest double below 2^63 converts; truncation is toward zero.
    assert_eq!(
        agreed("int(9223372036854774784.0)", Type::Int, &inputs),
        Outcome::Int(9_223_372_036_854_774_784)
    );
    assert_eq!(
        agreed("int(-9223372036854774784.0)", Type::Int, &inputs),
        Outcome::Int(-9_223_372_036_854_774_784)
    );
    assert_eq!(agreed("int(-2.9)", Type::Int, &inputs), Outcome::Int(-2));
}

#[test]
fn ordering_a_nan_fails_in_both() {
    // Finite fields reach NaN through arithmetic: here `x / x` with x = 0.
    let inputs = Inputs::default();
    for source in [
        "(x / x) < 1.0",
        "(x / x) <= 1.0",
        "1.0 > (x / x)",
        "(x / x) >= (x / x)",
    ] {
        let outcome = agreed(source, Type::Bool, &inputs);
        assert_eq!(failure_kind(&outcome), "NotComparable", "`{source}`");
    }
    // Equality is defined: a NaN equals nothing, itself included.
    assert_eq!(
        agreed("(x / x) == (x / x)", Type::Bool, &inputs),
        Outcome::Bool(false)
    );
    assert_eq!(
        agreed("(x / x) != (x / x)", Type::Bool, &inputs),
        Outcome::Bool(true)
    );
}

#[test]
fn logic_absorbs_an_error_on_either_side() {
    let inputs = Inputs::default();
    for (source, expected) in [
        ("false && (1 / 0 == 1)", false),
        ("(1 / 0 == 1) && false", false),
        ("true || (1 / 0 == 1)", true),
        ("(1 / 0 == 1) || true", true),
    ] {
        assert_eq!(
            agreed(source, Type::Bool, &inputs),
            Outcome::Bool(expected),
            "`{source}`"
        );
    }
    for source in ["true && (1 / 0 == 1)", "(1 / 0 == 1) || false"] {
        failure_kind(&agreed(source, Type::Bool, &inputs));
    }
}

#[test]
fn int_division_truncates_toward_zero() {
    let inputs = Inputs::default();
    assert_eq!(agreed("-7 / 2", Type::Int, &inputs), Outcome::Int(-3));
    assert_eq!(agreed("-7 % 2", Type::Int, &inputs), Outcome::Int(-1));
    assert_eq!(agreed("7 % -2", Type::Int, &inputs), Outcome::Int(1));
    for source in ["-7 / 2 == -3", "-7 % 2 == -1"] {
        assert_eq!(
            agreed(source, Type::Bool, &inputs),
            Outcome::Bool(true),
            "`{source}`"
        );
    }
}

#[test]
fn expressions_outside_the_subset_are_refused_with_a_message() {
    let variables = variables();
    // Each source, the type it is meant to have, and a fragment of the message saying why it
    // is refused.
    for (source, ty, why) in [
        ("[1, 2].map(x, x * 2)", Type::Int, "comprehensions"),
        ("1 + 1.0", Type::Double, "does not mix int and double"),
        ("unknown_var > 1", Type::Bool, "unknown name `unknown_var`"),
        (
            "'a' + 'b'",
            Type::Int,
            "not defined on a string and a string",
        ),
        ("a > 1.0", Type::Bool, "cannot compare an int with a double"),
        (
            "kind == 'delta'",
            Type::Bool,
            "not one of this enum's values",
        ),
        (
            "s.matches('a+')",
            Type::Bool,
            "method `matches` is not supported",
        ),
        ("x % y", Type::Double, "`%` is defined on ints only"),
    ] {
        let problems = match ty {
            Type::Bool => compile_condition(source, &variables).err(),
            Type::Int | Type::Double => compile_number(source, &variables).err(),
        }
        .unwrap_or_else(|| panic!("`{source}` was accepted"));
        assert!(!problems.is_empty(), "`{source}`");
        let length = source.chars().count();
        for problem in &problems {
            assert!(!problem.message.is_empty(), "`{source}`");
            assert!(
                problem.offset < length,
                "`{source}`: offset {} is past the end",
                problem.offset
            );
        }
        assert!(
            problems.iter().any(|problem| problem.message.contains(why)),
            "`{source}`: expected a message saying {why:?}, got {problems:?}"
        );
    }
}

/// A syntax error points at the offending character, or just past the end when the source ends
/// too soon.
#[test]
fn syntax_errors_point_at_the_offending_character() {
    let variables = variables();
    for (source, offset) in [("a >> 3", 3), ("a +", 3), ("(a", 2)] {
        let problems = compile_number(source, &variables).expect_err(source);
        assert!(
            problems
                .iter()
                .all(|problem| problem.message.starts_with("CEL syntax")),
            "`{source}`: {problems:?}"
        );
        assert_eq!(problems[0].offset, offset, "`{source}`: {problems:?}");
    }
}
