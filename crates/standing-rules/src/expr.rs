//! Rule and policy expressions: CEL source, parsed by the `cel` crate, type-checked against the
//! declared variables and compiled to typed closures.
//!
//! Why compile: the `cel` interpreter walks a dynamically typed tree per evaluation (~1.35 µs
//! here); a checked tree of typed closures needs no type dispatch and no allocation. The subset
//! compiled is strict CEL: anything this module accepts evaluates to the same value (or the same
//! failure) under the interpreter — the property tests hold it to that. What it does not accept
//! is refused when the model is checked, never at evaluation time.

use cel::common::ast::{CallExpr, Expr, IdedExpr, LiteralValue, SourceInfo, operators};
use standing_core::{FieldType, FieldValue};
use std::sync::Arc;

/// Why an expression failed on one event. CEL's runtime errors, all arithmetic: a rule that fails
/// awards nothing for that event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvalError {
    Overflow,
    DivisionByZero,
    ModuloByZero,
    ConversionOutOfRange,
    /// `<`, `<=`, `>` or `>=` with a NaN operand: CEL's interpreter refuses to order a NaN.
    NotComparable,
    /// A value did not have its declared type; checked intake makes this unreachable.
    WrongValueType,
}

pub type Values<'a> = &'a [FieldValue];
type IntFn = Box<dyn Fn(Values<'_>) -> Result<i64, EvalError> + Send + Sync>;
type DoubleFn = Box<dyn Fn(Values<'_>) -> Result<f64, EvalError> + Send + Sync>;
type BoolFn = Box<dyn Fn(Values<'_>) -> Result<bool, EvalError> + Send + Sync>;

/// A checked, compiled condition.
pub struct BoolExpr(BoolFn);

impl BoolExpr {
    pub fn eval(&self, values: Values<'_>) -> Result<bool, EvalError> {
        (self.0)(values)
    }
}

impl std::fmt::Debug for BoolExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BoolExpr")
    }
}

/// A checked, compiled number: CEL `int` or `double`, read as `f64`.
pub enum NumberExpr {
    Int(IntFn),
    Double(DoubleFn),
}

impl NumberExpr {
    pub fn eval(&self, values: Values<'_>) -> Result<f64, EvalError> {
        match self {
            NumberExpr::Int(function) => function(values).map(|value| value as f64),
            NumberExpr::Double(function) => function(values),
        }
    }
}

impl std::fmt::Debug for NumberExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NumberExpr")
    }
}

/// A name an expression can use.
#[derive(Clone, Debug)]
pub struct Variable {
    pub name: String,
    pub kind: VariableKind,
}

#[derive(Clone, Debug)]
pub enum VariableKind {
    /// A value in slot `slot` of the evaluation's values; what it reads is called `read`.
    Value {
        ty: FieldType,
        slot: usize,
        read: String,
    },
    /// A map of named values, read as `name.member` or `name['member']`.
    Namespace { members: Vec<Member> },
    /// A set of names, read only as `'member' in name`; each member a boolean slot.
    Set { members: Vec<Member> },
}

#[derive(Clone, Debug)]
pub struct Member {
    pub name: String,
    pub ty: FieldType,
    pub slot: usize,
    pub read: String,
}

/// What an expression reads, and where (a char offset into the expression).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Read {
    pub name: String,
    pub offset: usize,
}

/// A problem in an expression, at a char offset into it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprProblem {
    pub offset: usize,
    pub message: String,
}

/// A compiled expression and what it reads.
#[derive(Debug)]
pub struct Compiled<T> {
    pub expr: T,
    pub reads: Vec<Read>,
}

/// The longest expression text accepted, in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 4096;
/// The deepest nesting of `(`, `[` and `{` accepted.
pub const MAX_EXPRESSION_DEPTH: usize = 32;
/// The most operators and calls one expression may have (`+`, `&&`, `?:`, `in`, `.`, `f(…)`,
/// indexing …). The `cel` parser and the compiler recurse once per chained term: in a debug
/// build a chain of 128 `+` needs under 1 MiB of stack, one of 256 nearly 2 MiB (a test's or a
/// tokio worker's whole stack). The sample models' longest expression has 12.
pub const MAX_EXPRESSION_TERMS: usize = 128;

/// Refuses an expression too long, too deeply nested or with too many terms for the parser and
/// compiler to handle on any stack. Counts on the raw text with a small lexer that skips string
/// literals, so no parser runs on hostile text. The problem is at a char offset into `source`.
pub fn check_limits(source: &str) -> Result<(), ExprProblem> {
    if source.len() > MAX_EXPRESSION_BYTES {
        return Err(ExprProblem {
            offset: 0,
            message: format!(
                "this expression is {} bytes long; at most {MAX_EXPRESSION_BYTES} are allowed",
                source.len()
            ),
        });
    }
    let chars: Vec<char> = source.chars().collect();
    let mut depth = 0usize;
    let mut terms = 0usize;
    let mut index = 0;
    // Whether the previous token ends an operand (a name, a literal, a closing bracket): then
    // `(` is a call and `[` an index.
    let mut after_operand = false;
    while index < chars.len() {
        let character = chars[index];
        match character {
            c if c.is_whitespace() => {
                index += 1;
                continue;
            }
            '"' | '\'' => {
                index = skip_string(&chars, index);
                after_operand = true;
                continue;
            }
            c if c.is_ascii_digit() => {
                index = skip_number(&chars, index);
                after_operand = true;
                continue;
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = index;
                while index < chars.len() && (chars[index].is_alphanumeric() || chars[index] == '_')
                {
                    index += 1;
                }
                let word: String = chars[start..index].iter().collect();
                // A string prefix: r'…', b"…", rb'…'.
                if index < chars.len()
                    && matches!(chars[index], '"' | '\'')
                    && matches!(word.to_ascii_lowercase().as_str(), "r" | "b" | "rb" | "br")
                {
                    index = skip_string(&chars, index);
                    after_operand = true;
                    continue;
                }
                if word == "in" {
                    terms += 1;
                    after_operand = false;
                } else {
                    after_operand = true;
                }
                continue;
            }
            '(' | '[' | '{' => {
                if after_operand {
                    terms += 1;
                }
                depth += 1;
                if depth > MAX_EXPRESSION_DEPTH {
                    return Err(ExprProblem {
                        offset: index,
                        message: format!(
                            "brackets nest deeper than {MAX_EXPRESSION_DEPTH} levels here"
                        ),
                    });
                }
                after_operand = false;
            }
            ')' | ']' | '}' => {
                depth = depth.saturating_sub(1);
                after_operand = true;
            }
            '+' | '-' | '*' | '/' | '%' | '<' | '>' | '=' | '!' | '&' | '|' | '?' | '.' => {
                // Two-character operators count once.
                let next = chars.get(index + 1).copied();
                let pair = matches!(
                    (character, next),
                    ('<' | '>' | '=' | '!', Some('=')) | ('&', Some('&')) | ('|', Some('|'))
                );
                terms += 1;
                if pair {
                    index += 1;
                }
                after_operand = false;
            }
            _ => after_operand = false,
        }
        if terms > MAX_EXPRESSION_TERMS {
            return Err(ExprProblem {
                offset: 0,
                message: format!(
                    "this expression has more than {MAX_EXPRESSION_TERMS} operators and calls; split it across rules"
                ),
            });
        }
        index += 1;
    }
    if terms > MAX_EXPRESSION_TERMS {
        return Err(ExprProblem {
            offset: 0,
            message: format!(
                "this expression has more than {MAX_EXPRESSION_TERMS} operators and calls; split it across rules"
            ),
        });
    }
    Ok(())
}

/// The index just past the string literal opening at `start` (quotes single or tripled,
/// backslash escapes); the end of the text when it never closes.
fn skip_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let triple = chars.get(start + 1) == Some(&quote) && chars.get(start + 2) == Some(&quote);
    let mut index = start + if triple { 3 } else { 1 };
    while index < chars.len() {
        if chars[index] == '\\' {
            index += 2;
            continue;
        }
        if chars[index] == quote {
            if !triple {
                return index + 1;
            }
            if chars.get(index + 1) == Some(&quote) && chars.get(index + 2) == Some(&quote) {
                return index + 3;
            }
        }
        index += 1;
    }
    chars.len()
}

/// The index just past the number literal at `start`: digits, a fraction, an exponent, a hex
/// prefix, a `u` suffix.
fn skip_number(chars: &[char], start: usize) -> usize {
    let mut index = start;
    while index < chars.len() {
        let c = chars[index];
        let exponent_sign = matches!(c, '+' | '-')
            && index > start
            && matches!(chars[index - 1], 'e' | 'E')
            && !(chars[start] == '0' && matches!(chars.get(start + 1), Some('x' | 'X')));
        let fraction = c == '.' && chars.get(index + 1).is_some_and(char::is_ascii_digit);
        if c.is_ascii_alphanumeric() || fraction || exponent_sign {
            index += 1;
        } else {
            break;
        }
    }
    index
}

/// Compiles a condition: the expression must be a `bool`.
pub fn compile_condition(
    source: &str,
    variables: &[Variable],
) -> Result<Compiled<BoolExpr>, Vec<ExprProblem>> {
    let mut compiler = Compiler::parse(source, variables)?;
    let node = compiler.compile_root();
    match node {
        Some(Node::Bool(function)) if compiler.problems.is_empty() => Ok(Compiled {
            expr: BoolExpr(function),
            reads: compiler.reads,
        }),
        Some(other) => {
            compiler.problem(
                compiler.root_id,
                format!(
                    "a condition must be a bool, but this is {}",
                    other.type_name()
                ),
            );
            Err(compiler.problems)
        }
        None => Err(compiler.problems),
    }
}

/// Compiles a number: the expression must be an `int` or a `double`.
pub fn compile_number(
    source: &str,
    variables: &[Variable],
) -> Result<Compiled<NumberExpr>, Vec<ExprProblem>> {
    let mut compiler = Compiler::parse(source, variables)?;
    let node = compiler.compile_root();
    let expr = match node {
        Some(Node::Int(function)) => NumberExpr::Int(function),
        Some(Node::Double(function)) => NumberExpr::Double(function),
        Some(other) => {
            compiler.problem(
                compiler.root_id,
                format!(
                    "points must be an int or a double, but this is {}",
                    other.type_name()
                ),
            );
            return Err(compiler.problems);
        }
        None => return Err(compiler.problems),
    };
    if compiler.problems.is_empty() {
        Ok(Compiled {
            expr,
            reads: compiler.reads,
        })
    } else {
        Err(compiler.problems)
    }
}

/// A string operand: a literal, a string field, or an enum field read by name.
#[derive(Clone)]
enum StrNode {
    Literal(Box<str>),
    Field(usize),
    EnumField(usize, Arc<[Box<str>]>),
}

impl StrNode {
    fn get<'a>(&'a self, values: Values<'a>) -> Result<&'a str, EvalError> {
        match self {
            StrNode::Literal(text) => Ok(text),
            StrNode::Field(slot) => match values.get(*slot) {
                Some(FieldValue::Str(text)) => Ok(text),
                _ => Err(EvalError::WrongValueType),
            },
            StrNode::EnumField(slot, names) => match values.get(*slot) {
                Some(FieldValue::Enum(index)) => names
                    .get(*index as usize)
                    .map(|name| &**name)
                    .ok_or(EvalError::WrongValueType),
                _ => Err(EvalError::WrongValueType),
            },
        }
    }
}

enum Node {
    Int(IntFn),
    Double(DoubleFn),
    Bool(BoolFn),
    Str(StrNode),
    /// A list literal, only usable on the right of `in`.
    List(Vec<Literal>),
    /// A set variable, only usable on the right of `in`.
    Set(Vec<Member>),
    /// A namespace variable, only usable with `.member` or `['member']`.
    Namespace(Vec<Member>),
}

#[derive(Clone, Debug, PartialEq)]
enum Literal {
    Int(i64),
    Double(f64),
    Bool(bool),
    Str(Box<str>),
}

impl Node {
    fn type_name(&self) -> &'static str {
        match self {
            Node::Int(_) => "an int",
            Node::Double(_) => "a double",
            Node::Bool(_) => "a bool",
            Node::Str(_) => "a string",
            Node::List(_) => "a list",
            Node::Set(_) => "a set of names",
            Node::Namespace(_) => "a map",
        }
    }
}

struct Compiler<'v> {
    variables: &'v [Variable],
    source_info: SourceInfo,
    expression: IdedExpr,
    root_id: u64,
    problems: Vec<ExprProblem>,
    reads: Vec<Read>,
}

fn literal_node(literal: &Literal) -> Node {
    match literal.clone() {
        Literal::Int(value) => Node::Int(Box::new(move |_| Ok(value))),
        Literal::Double(value) => Node::Double(Box::new(move |_| Ok(value))),
        Literal::Bool(value) => Node::Bool(Box::new(move |_| Ok(value))),
        Literal::Str(value) => Node::Str(StrNode::Literal(value)),
    }
}

fn read_int(slot: usize) -> IntFn {
    Box::new(move |values| match values.get(slot) {
        Some(FieldValue::Int(value)) => Ok(*value),
        Some(FieldValue::Time(instant)) => Ok(instant.0),
        _ => Err(EvalError::WrongValueType),
    })
}

fn read_double(slot: usize) -> DoubleFn {
    Box::new(move |values| match values.get(slot) {
        Some(FieldValue::Dec(value)) => Ok(*value),
        _ => Err(EvalError::WrongValueType),
    })
}

fn read_bool(slot: usize) -> BoolFn {
    Box::new(move |values| match values.get(slot) {
        Some(FieldValue::Bool(value)) => Ok(*value),
        _ => Err(EvalError::WrongValueType),
    })
}

fn value_node(ty: &FieldType, slot: usize) -> Node {
    match ty {
        FieldType::Integer | FieldType::Timestamp => Node::Int(read_int(slot)),
        FieldType::Decimal => Node::Double(read_double(slot)),
        FieldType::Boolean => Node::Bool(read_bool(slot)),
        FieldType::String => Node::Str(StrNode::Field(slot)),
        FieldType::Enum(names) => {
            Node::Str(StrNode::EnumField(slot, names.iter().cloned().collect()))
        }
    }
}

/// CEL's `int(double)`: truncation toward zero, an error outside the int range or for NaN.
fn double_to_int(value: f64) -> Result<i64, EvalError> {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
    // The range is open at both ends, (-2^63, 2^63), as in the interpreter and cel-go: -2^63
    // fails too, although it is exactly i64::MIN.
    if value.is_nan() || value >= LIMIT || value <= -LIMIT {
        Err(EvalError::ConversionOutOfRange)
    } else {
        Ok(value.trunc() as i64)
    }
}

macro_rules! int_op {
    ($left:expr, $right:expr, $body:expr) => {{
        let (left, right) = ($left, $right);
        Node::Int(Box::new(move |values| {
            let a = left(values)?;
            let b = right(values)?;
            $body(a, b)
        }))
    }};
}

macro_rules! compare {
    ($left:expr, $right:expr, $op:tt) => {{
        let (left, right) = ($left, $right);
        Node::Bool(Box::new(move |values| Ok(left(values)? $op right(values)?)))
    }};
}

impl<'v> Compiler<'v> {
    fn parse(source: &str, variables: &'v [Variable]) -> Result<Self, Vec<ExprProblem>> {
        // The `cel` parser and this compiler recurse once per nesting level and per chained
        // term: bound both before the text reaches either.
        check_limits(source).map_err(|problem| vec![problem])?;
        let parsed = cel::parser::Parser::new().parse_with_source_info(source);
        match parsed {
            Ok((expression, source_info)) => Ok(Compiler {
                variables,
                root_id: expression.id,
                source_info,
                expression,
                problems: Vec::new(),
                reads: Vec::new(),
            }),
            Err(errors) => Err(errors
                .errors
                .iter()
                .map(|error| ExprProblem {
                    offset: line_column_to_offset(source, error.pos.0, error.pos.1),
                    message: format!("CEL syntax: {}", error.msg),
                })
                .collect()),
        }
    }

    fn compile_root(&mut self) -> Option<Node> {
        let expression = std::mem::take(&mut self.expression);
        let node = self.compile(&expression);
        self.expression = expression;
        node
    }

    fn offset(&self, id: u64) -> usize {
        self.source_info
            .offset_for(id)
            .map(|(start, _)| start as usize)
            .unwrap_or(0)
    }

    fn problem(&mut self, id: u64, message: impl Into<String>) {
        let offset = self.offset(id);
        self.problems.push(ExprProblem {
            offset,
            message: message.into(),
        });
    }

    fn read(&mut self, id: u64, name: &str) {
        let offset = self.offset(id);
        self.reads.push(Read {
            name: name.to_owned(),
            offset,
        });
    }

    fn variable(&self, name: &str) -> Option<&'v Variable> {
        self.variables.iter().find(|variable| variable.name == name)
    }

    fn unknown_name(&mut self, id: u64, name: &str) {
        let mut known: Vec<&str> = self.variables.iter().map(|v| v.name.as_str()).collect();
        known.sort_unstable();
        self.problem(
            id,
            format!(
                "unknown name `{name}`; this expression can read: {}",
                known.join(", ")
            ),
        );
    }

    fn compile(&mut self, expr: &IdedExpr) -> Option<Node> {
        match &expr.expr {
            Expr::Literal(literal) => self.literal(expr.id, literal).map(|l| literal_node(&l)),
            Expr::Ident(name) => self.ident(expr.id, name),
            Expr::Select(select) => {
                if select.test {
                    self.problem(
                        expr.id,
                        "`has()` is not needed: every declared field is present",
                    );
                    return None;
                }
                let operand = self.compile(&select.operand)?;
                self.member(expr.id, operand, &select.field)
            }
            Expr::Call(call) => self.call(expr.id, call),
            Expr::List(list) => {
                let mut literals = Vec::with_capacity(list.elements.len());
                for element in &list.elements {
                    match &element.expr {
                        Expr::Literal(literal) => literals.push(self.literal(element.id, literal)?),
                        _ => {
                            self.problem(element.id, "list elements must be literals");
                            return None;
                        }
                    }
                }
                Some(Node::List(literals))
            }
            Expr::Comprehension(_) => {
                self.problem(expr.id, "comprehensions (all, exists, map, filter) are not supported in Standing expressions");
                None
            }
            Expr::Map(_) | Expr::Struct(_) => {
                self.problem(
                    expr.id,
                    "map and message literals are not supported in Standing expressions",
                );
                None
            }
            Expr::Unspecified => {
                self.problem(expr.id, "empty expression");
                None
            }
        }
    }

    fn literal(&mut self, id: u64, literal: &LiteralValue) -> Option<Literal> {
        match literal {
            LiteralValue::Int(value) => Some(Literal::Int(*value.inner())),
            LiteralValue::Double(value) => Some(Literal::Double(*value.inner())),
            LiteralValue::Boolean(value) => Some(Literal::Bool(*value.inner())),
            LiteralValue::String(value) => Some(Literal::Str(value.inner().into())),
            LiteralValue::UInt(_) => {
                self.problem(
                    id,
                    "unsigned literals are not supported; drop the `u` suffix",
                );
                None
            }
            LiteralValue::Null => {
                self.problem(
                    id,
                    "`null` is not supported: every declared field is present",
                );
                None
            }
            LiteralValue::Bytes(_) => {
                self.problem(id, "bytes literals are not supported");
                None
            }
        }
    }

    fn ident(&mut self, id: u64, name: &str) -> Option<Node> {
        let Some(variable) = self.variable(name) else {
            self.unknown_name(id, name);
            return None;
        };
        match &variable.kind {
            VariableKind::Value { ty, slot, read } => {
                self.read(id, read);
                Some(value_node(ty, *slot))
            }
            VariableKind::Namespace { members } => Some(Node::Namespace(members.clone())),
            VariableKind::Set { members } => Some(Node::Set(members.clone())),
        }
    }

    fn member(&mut self, id: u64, operand: Node, field: &str) -> Option<Node> {
        let Node::Namespace(members) = operand else {
            self.problem(
                id,
                format!("{} has no member `{field}`", operand.type_name()),
            );
            return None;
        };
        let Some(member) = members.iter().find(|member| member.name == field) else {
            let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
            self.problem(
                id,
                format!("no member `{field}`; members: {}", names.join(", ")),
            );
            return None;
        };
        self.read(id, &member.read);
        Some(value_node(&member.ty, member.slot))
    }

    fn call(&mut self, id: u64, call: &CallExpr) -> Option<Node> {
        let name = call.func_name.as_str();
        if let Some(target) = &call.target {
            return self.method(id, name, target, &call.args);
        }
        match (name, call.args.as_slice()) {
            (operators::LOGICAL_AND | operators::LOGICAL_OR, [left, right]) => {
                let left = self.compile(left);
                let right = self.compile(right);
                let (Node::Bool(left), Node::Bool(right)) = (left?, right?) else {
                    self.problem(id, "`&&` and `||` need bool operands");
                    return None;
                };
                // CEL's logic is commutative over errors: `false && error` and
                // `error && false` are both false.
                Some(if name == operators::LOGICAL_AND {
                    Node::Bool(Box::new(move |values| match left(values) {
                        Ok(false) => Ok(false),
                        Ok(true) => right(values),
                        Err(error) => match right(values) {
                            Ok(false) => Ok(false),
                            _ => Err(error),
                        },
                    }))
                } else {
                    Node::Bool(Box::new(move |values| match left(values) {
                        Ok(true) => Ok(true),
                        Ok(false) => right(values),
                        Err(error) => match right(values) {
                            Ok(true) => Ok(true),
                            _ => Err(error),
                        },
                    }))
                })
            }
            (operators::LOGICAL_NOT, [operand]) => match self.compile(operand)? {
                Node::Bool(operand) => {
                    Some(Node::Bool(Box::new(move |values| Ok(!operand(values)?))))
                }
                other => {
                    self.problem(id, format!("`!` needs a bool, not {}", other.type_name()));
                    None
                }
            },
            (operators::NEGATE, [operand]) => match self.compile(operand)? {
                Node::Int(operand) => Some(Node::Int(Box::new(move |values| {
                    operand(values)?.checked_neg().ok_or(EvalError::Overflow)
                }))),
                Node::Double(operand) => {
                    Some(Node::Double(Box::new(move |values| Ok(-operand(values)?))))
                }
                other => {
                    self.problem(id, format!("`-` needs a number, not {}", other.type_name()));
                    None
                }
            },
            (operators::CONDITIONAL, [condition, when_true, when_false]) => {
                let condition = self.compile(condition);
                let when_true = self.compile(when_true);
                let when_false = self.compile(when_false);
                self.conditional(id, condition?, when_true?, when_false?)
            }
            (
                operators::ADD
                | operators::SUBSTRACT
                | operators::MULTIPLY
                | operators::DIVIDE
                | operators::MODULO,
                [left, right],
            ) => {
                let left = self.compile(left);
                let right = self.compile(right);
                self.arithmetic(id, name, left?, right?)
            }
            (
                operators::EQUALS
                | operators::NOT_EQUALS
                | operators::LESS
                | operators::LESS_EQUALS
                | operators::GREATER
                | operators::GREATER_EQUALS,
                [left, right],
            ) => {
                let left = self.compile(left);
                let right = self.compile(right);
                self.comparison(id, name, left?, right?)
            }
            (operators::INDEX, [operand, index]) => {
                let operand = self.compile(operand)?;
                match &index.expr {
                    Expr::Literal(LiteralValue::String(key)) => {
                        self.member(id, operand, key.inner())
                    }
                    _ => {
                        self.problem(
                            index.id,
                            "an index must be a string literal naming a member",
                        );
                        None
                    }
                }
            }
            (operators::IN, [element, collection]) => self.membership(id, element, collection),
            ("int", [operand]) => match self.compile(operand)? {
                Node::Int(operand) => Some(Node::Int(operand)),
                Node::Double(operand) => Some(Node::Int(Box::new(move |values| {
                    double_to_int(operand(values)?)
                }))),
                other => {
                    self.problem(
                        id,
                        format!("`int()` converts a number, not {}", other.type_name()),
                    );
                    None
                }
            },
            ("double", [operand]) => match self.compile(operand)? {
                Node::Double(operand) => Some(Node::Double(operand)),
                Node::Int(operand) => Some(Node::Double(Box::new(move |values| {
                    Ok(operand(values)? as f64)
                }))),
                other => {
                    self.problem(
                        id,
                        format!("`double()` converts a number, not {}", other.type_name()),
                    );
                    None
                }
            },
            ("size", [operand]) => {
                let operand = self.compile(operand)?;
                self.size(id, operand)
            }
            _ => {
                self.problem(
                    id,
                    format!(
                        "`{}` with {} argument(s) is not supported; Standing expressions use arithmetic, comparisons, `&&`, `||`, `!`, `?:`, `in`, int(), double(), size(), startsWith(), endsWith() and contains()",
                        name.trim_matches(|c| c == '_' || c == '@'),
                        call.args.len()
                    ),
                );
                None
            }
        }
    }

    fn method(
        &mut self,
        id: u64,
        name: &str,
        target: &IdedExpr,
        args: &[IdedExpr],
    ) -> Option<Node> {
        let target = self.compile(target)?;
        match (name, args) {
            ("size", []) => self.size(id, target),
            ("startsWith" | "endsWith" | "contains", [argument]) => {
                let argument = self.compile(argument)?;
                let (Node::Str(target), Node::Str(argument)) = (target, argument) else {
                    self.problem(
                        id,
                        format!("`{name}` is a string method with a string argument"),
                    );
                    return None;
                };
                let test: fn(&str, &str) -> bool = match name {
                    "startsWith" => |a, b| a.starts_with(b),
                    "endsWith" => |a, b| a.ends_with(b),
                    _ => |a, b| a.contains(b),
                };
                Some(Node::Bool(Box::new(move |values| {
                    Ok(test(target.get(values)?, argument.get(values)?))
                })))
            }
            _ => {
                self.problem(id, format!("method `{name}` is not supported; methods: size(), startsWith(), endsWith(), contains()"));
                None
            }
        }
    }

    fn size(&mut self, id: u64, operand: Node) -> Option<Node> {
        match operand {
            Node::Str(text) => Some(Node::Int(Box::new(move |values| {
                Ok(text.get(values)?.chars().count() as i64)
            }))),
            other => {
                self.problem(
                    id,
                    format!("`size()` measures a string here, not {}", other.type_name()),
                );
                None
            }
        }
    }

    fn conditional(
        &mut self,
        id: u64,
        condition: Node,
        when_true: Node,
        when_false: Node,
    ) -> Option<Node> {
        let Node::Bool(condition) = condition else {
            self.problem(
                id,
                format!(
                    "the condition of `?:` must be a bool, not {}",
                    condition.type_name()
                ),
            );
            return None;
        };
        match (when_true, when_false) {
            (Node::Int(a), Node::Int(b)) => Some(Node::Int(Box::new(move |values| {
                if condition(values)? {
                    a(values)
                } else {
                    b(values)
                }
            }))),
            (Node::Double(a), Node::Double(b)) => Some(Node::Double(Box::new(move |values| {
                if condition(values)? {
                    a(values)
                } else {
                    b(values)
                }
            }))),
            (Node::Bool(a), Node::Bool(b)) => Some(Node::Bool(Box::new(move |values| {
                if condition(values)? {
                    a(values)
                } else {
                    b(values)
                }
            }))),
            (a, b) => {
                self.problem(
                    id,
                    format!(
                        "both branches of `?:` must be ints, doubles or bools of the same type, not {} and {}",
                        a.type_name(),
                        b.type_name()
                    ),
                );
                None
            }
        }
    }

    fn arithmetic(&mut self, id: u64, name: &str, left: Node, right: Node) -> Option<Node> {
        Some(match (left, right) {
            (Node::Int(a), Node::Int(b)) => match name {
                operators::ADD => int_op!(a, b, |x: i64, y: i64| x
                    .checked_add(y)
                    .ok_or(EvalError::Overflow)),
                operators::SUBSTRACT => int_op!(a, b, |x: i64, y: i64| x
                    .checked_sub(y)
                    .ok_or(EvalError::Overflow)),
                operators::MULTIPLY => int_op!(a, b, |x: i64, y: i64| x
                    .checked_mul(y)
                    .ok_or(EvalError::Overflow)),
                operators::DIVIDE => int_op!(a, b, |x: i64, y: i64| {
                    if y == 0 {
                        Err(EvalError::DivisionByZero)
                    } else {
                        x.checked_div(y).ok_or(EvalError::Overflow)
                    }
                }),
                _ => int_op!(a, b, |x: i64, y: i64| {
                    if y == 0 {
                        Err(EvalError::ModuloByZero)
                    } else {
                        x.checked_rem(y).ok_or(EvalError::Overflow)
                    }
                }),
            },
            (Node::Double(a), Node::Double(b)) => {
                let op: fn(f64, f64) -> f64 = match name {
                    operators::ADD => |x, y| x + y,
                    operators::SUBSTRACT => |x, y| x - y,
                    operators::MULTIPLY => |x, y| x * y,
                    operators::DIVIDE => |x, y| x / y,
                    _ => {
                        self.problem(id, "`%` is defined on ints only");
                        return None;
                    }
                };
                Node::Double(Box::new(move |values| Ok(op(a(values)?, b(values)?))))
            }
            (a, b) => {
                let hint = if matches!(
                    (&a, &b),
                    (Node::Int(_), Node::Double(_)) | (Node::Double(_), Node::Int(_))
                ) {
                    "; CEL does not mix int and double: convert one side with double(...) or int(...)"
                } else {
                    ""
                };
                self.problem(
                    id,
                    format!(
                        "`{}` is not defined on {} and {}{hint}",
                        name.trim_matches('_'),
                        a.type_name(),
                        b.type_name()
                    ),
                );
                return None;
            }
        })
    }

    fn comparison(&mut self, id: u64, name: &str, left: Node, right: Node) -> Option<Node> {
        let ordering = !matches!(name, operators::EQUALS | operators::NOT_EQUALS);
        Some(match (left, right) {
            (Node::Int(a), Node::Int(b)) => match name {
                operators::EQUALS => compare!(a, b, ==),
                operators::NOT_EQUALS => compare!(a, b, !=),
                operators::LESS => compare!(a, b, <),
                operators::LESS_EQUALS => compare!(a, b, <=),
                operators::GREATER => compare!(a, b, >),
                _ => compare!(a, b, >=),
            },
            (Node::Double(a), Node::Double(b)) => match name {
                operators::EQUALS => compare!(a, b, ==),
                operators::NOT_EQUALS => compare!(a, b, !=),
                // Ordering a NaN is an error in the interpreter, where Rust's `<` would say
                // false; `==` and `!=` with a NaN are false and true in both.
                _ => {
                    let test: fn(std::cmp::Ordering) -> bool = match name {
                        operators::LESS => std::cmp::Ordering::is_lt,
                        operators::LESS_EQUALS => std::cmp::Ordering::is_le,
                        operators::GREATER => std::cmp::Ordering::is_gt,
                        _ => std::cmp::Ordering::is_ge,
                    };
                    Node::Bool(Box::new(move |values| {
                        let (x, y) = (a(values)?, b(values)?);
                        x.partial_cmp(&y).map(test).ok_or(EvalError::NotComparable)
                    }))
                }
            },
            (Node::Bool(a), Node::Bool(b)) if !ordering => match name {
                operators::EQUALS => compare!(a, b, ==),
                _ => compare!(a, b, !=),
            },
            (Node::Str(a), Node::Str(b)) => {
                if let Some(node) = self.enum_equality(id, name, &a, &b) {
                    return node;
                }
                let test: fn(&str, &str) -> bool = match name {
                    operators::EQUALS => |x, y| x == y,
                    operators::NOT_EQUALS => |x, y| x != y,
                    operators::LESS => |x, y| x < y,
                    operators::LESS_EQUALS => |x, y| x <= y,
                    operators::GREATER => |x, y| x > y,
                    _ => |x, y| x >= y,
                };
                Node::Bool(Box::new(move |values| {
                    Ok(test(a.get(values)?, b.get(values)?))
                }))
            }
            (a, b) => {
                self.problem(
                    id,
                    format!(
                        "`{}` cannot compare {} with {}; compare like with like (double(...) converts an int)",
                        name.trim_matches('_'),
                        a.type_name(),
                        b.type_name()
                    ),
                );
                return None;
            }
        })
    }

    /// `enum_field == 'name'` compiles to an index comparison, and a name that is not one of the
    /// enum's values is refused: it could never match.
    fn enum_equality(
        &mut self,
        id: u64,
        name: &str,
        a: &StrNode,
        b: &StrNode,
    ) -> Option<Option<Node>> {
        let (slot, names, literal) = match (a, b) {
            (StrNode::EnumField(slot, names), StrNode::Literal(literal))
            | (StrNode::Literal(literal), StrNode::EnumField(slot, names)) => {
                (*slot, names, literal)
            }
            _ => return None,
        };
        if !matches!(name, operators::EQUALS | operators::NOT_EQUALS) {
            return None;
        }
        let Some(index) = names.iter().position(|n| n == literal) else {
            self.problem(
                id,
                format!(
                    "`{literal}` is not one of this enum's values: {}",
                    names.join(", ")
                ),
            );
            return Some(None);
        };
        let index = index as u16;
        let equal = name == operators::EQUALS;
        Some(Some(Node::Bool(Box::new(move |values| {
            match values.get(slot) {
                Some(FieldValue::Enum(value)) => Ok((*value == index) == equal),
                _ => Err(EvalError::WrongValueType),
            }
        }))))
    }

    fn membership(&mut self, id: u64, element: &IdedExpr, collection: &IdedExpr) -> Option<Node> {
        let element_node = self.compile(element);
        let collection_node = self.compile(collection)?;
        match collection_node {
            Node::Set(members) => {
                let Expr::Literal(LiteralValue::String(name)) = &element.expr else {
                    self.problem(
                        id,
                        "a set of names is tested with a string literal: `'name' in set`",
                    );
                    return None;
                };
                let Some(member) = members.iter().find(|m| m.name == name.inner()) else {
                    let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
                    self.problem(
                        element.id,
                        format!(
                            "no member `{}`; members: {}",
                            name.inner(),
                            names.join(", ")
                        ),
                    );
                    return None;
                };
                self.read(element.id, &member.read);
                Some(Node::Bool(read_bool(member.slot)))
            }
            Node::List(literals) => match element_node? {
                Node::Int(a) => {
                    let mut set = Vec::new();
                    for literal in literals {
                        match literal {
                            Literal::Int(value) => set.push(value),
                            _ => {
                                self.problem(
                                    collection.id,
                                    "an int is tested against a list of ints",
                                );
                                return None;
                            }
                        }
                    }
                    Some(Node::Bool(Box::new(move |values| {
                        Ok(set.contains(&a(values)?))
                    })))
                }
                Node::Str(StrNode::EnumField(slot, names)) => {
                    let mut indices = Vec::new();
                    for literal in literals {
                        let Literal::Str(text) = literal else {
                            self.problem(
                                collection.id,
                                "a string is tested against a list of strings",
                            );
                            return None;
                        };
                        match names.iter().position(|n| *n == text) {
                            Some(index) => indices.push(index as u16),
                            None => {
                                self.problem(
                                    collection.id,
                                    format!(
                                        "`{text}` is not one of this enum's values: {}",
                                        names.join(", ")
                                    ),
                                );
                                return None;
                            }
                        }
                    }
                    Some(Node::Bool(Box::new(move |values| match values.get(slot) {
                        Some(FieldValue::Enum(value)) => Ok(indices.contains(value)),
                        _ => Err(EvalError::WrongValueType),
                    })))
                }
                Node::Str(a) => {
                    let mut set: Vec<Box<str>> = Vec::new();
                    for literal in literals {
                        match literal {
                            Literal::Str(text) => set.push(text),
                            _ => {
                                self.problem(
                                    collection.id,
                                    "a string is tested against a list of strings",
                                );
                                return None;
                            }
                        }
                    }
                    Some(Node::Bool(Box::new(move |values| {
                        let value = a.get(values)?;
                        Ok(set.iter().any(|candidate| &**candidate == value))
                    })))
                }
                other => {
                    self.problem(
                        id,
                        format!(
                            "`in` tests an int or a string against a list, not {}",
                            other.type_name()
                        ),
                    );
                    None
                }
            },
            other => {
                self.problem(
                    collection.id,
                    format!(
                        "`in` needs a list literal or a set on its right, not {}",
                        other.type_name()
                    ),
                );
                None
            }
        }
    }
}

/// Turns the parser's 1-based line and column into a char offset into `source`.
fn line_column_to_offset(source: &str, line: isize, column: isize) -> usize {
    if line < 1 {
        return 0;
    }
    let mut offset = 0;
    for (index, text) in source.split_inclusive('\n').enumerate() {
        if index as isize + 1 == line {
            return offset + (column - 1).max(0) as usize;
        }
        offset += text.chars().count();
    }
    offset
}
