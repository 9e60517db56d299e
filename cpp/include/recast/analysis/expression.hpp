// The analysis expression language (ADL/CutLang style, never `eval`): a real grammar parsed by
// recursive descent into an AST, type-checked at load time against the input schema (collections
// and their fields, records such as `met`, earlier variables), and evaluated in C++ per event over
// columnar inputs.
//
// Grammar (lowest precedence first):
//   expr    := or ;  or := and ('or' | '||') and ... ;  and := not ('and' | '&&') not ...
//   not     := ('not' | '!') not | cmp ;  cmp := sum (('<'|'<='|'>'|'>='|'=='|'!=') sum)?
//   sum     := prod (('+'|'-') prod)* ;  prod := unary (('*'|'/'|'%') unary)*   (% floored modulo)
//   unary   := '-' unary | power ;  power := postfix ('**' unary)?
//   postfix := primary ('.' NAME | '[' index ']' | '[' [expr] ':' [expr] ']')*
//   primary := NUMBER | 'true' | 'false' | NAME | NAME '(' [expr (',' expr)*] ')' | '(' expr ')'
// Types: number, bool, object, collection, number list, bool list, vector. `jets.pt` is a number
// list, `jets.pt > 50` a bool list, `jets[0]` an object, `jets[1:3]` a collection; lists
// broadcast against numbers.
//
// Four-vectors: `sum4(x, ...)` is the four-momentum sum (a *vector*) of objects, collections and
// vectors, e.g. `sum4(jets)`, `sum4(electrons[0], muons[0])`, `sum4(met)` (records: eta = m = 0).
// Vectors add and subtract (`v + w`, `v - w`, `-v`), have the components `.pt .eta .phi .m .px
// .py .pz .e` (`.mass` = `.m`) and are accepted wherever a kinematic function takes an object:
// dR, dphi, deta, mT, mT2, m, vpt, sum4, min_dphi's reference. So MHT is `sum4(jets).pt`,
// dphi(jets[0], -sum4(jets)) the angle between the leading jet and the MHT vector, and razor's
// megajets are `megajet(jets, 0)`, `megajet(jets, 1)`. The sum of no objects is the zero vector;
// a missing object makes the vector missing.
//
// Missing values: an index beyond the collection (`jets[3]` in a 2-jet event), min/max of an
// empty list and divisions by zero give a *missing* value. Arithmetic and comparisons with a
// missing operand are missing; `and` is false if either side is false, else missing if either is
// missing (`or` likewise with true); a cut whose value is missing fails, a variable that is
// missing is stored as NaN. So `jets[3].pt > 50` is false on a 2-jet event, and so is
// `not (jets[3].pt > 50)`.
//
// Nesting (parentheses, calls, unary operators, `**`, indexing) is limited to
// kMaxExpressionDepth levels, checked at load time (ConfigError "expression nested deeper than
// N levels"), so that neither parsing nor evaluation can exhaust the stack; chains of binary
// operators (`a + b + ... + z`, `x and y and ...`) are flat and may be arbitrarily long.
//
// Compilation: every built-in is one record (name, signature, doc, type rule, evaluation) in
// builtins.cpp, listed by `builtins()`; custom functions are added with `register_function`
// (C++, per event or vectorised per block of events; Python: recast_ml.functions.register).
// Field positions are resolved at type-check time. Expressions compiled into one
// `ExpressionPool` (all expressions of an analysis) are hash-consed: identical sub-expressions
// (after normalisation: the text's spelling and position do not matter) share one value slot,
// evaluated at most once per event and context; values live in slots reused across events (no
// allocation per event in the steady state). Custom functions must therefore be pure.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "recast/analysis/table.hpp"

namespace recast::analysis {

/// Deepest nesting an expression may have (see the header comment).
inline constexpr int kMaxExpressionDepth = 200;

enum class Type { Number, Bool, Object, Collection, NumberList, BoolList, Vector };
const char* type_name(Type t) noexcept;

/// What expressions may refer to.
struct Schema {
    std::map<std::string, std::vector<std::string>> collections;  ///< name -> field names (table order)
    std::map<std::string, std::vector<std::string>> records;      ///< name -> field names (e.g. met)
    std::map<std::string, std::vector<std::string>> bool_fields;  ///< collection/record -> 0/1 flag fields
    std::map<std::string, Type> variables;                        ///< earlier scalar variables
    std::vector<std::string> variable_order;                      ///< variable slot order
};

/// A runtime value (see the header comment for missing-value rules).
struct Value {
    Type type = Type::Number;
    double x = 0.0;       ///< number, or bool as 0/1
    bool missing = false;
    const CollectionColumns* coll = nullptr;  ///< object / collection
    const RecordColumns* rec = nullptr;       ///< record object (met)
    std::int64_t obj = -1;                    ///< object: global index in coll (or event index for records)
    std::vector<std::int64_t> idx;            ///< collection: global indices in coll
    std::vector<double> list;                 ///< number/bool list (bools as 0/1)
    std::vector<std::uint8_t> list_missing;   ///< per element, empty if none missing
    const int* kin = nullptr;  ///< object/collection: positions of pt, eta, phi, mass (-1 absent); null = look up
    double px = 0, py = 0, pz = 0, e = 0;  ///< vector

    static Value number(double v) { Value r; r.x = v; return r; }
    static Value boolean(bool v) { Value r; r.type = Type::Bool; r.x = v ? 1.0 : 0.0; return r; }
    static Value none(Type t) { Value r; r.type = t; r.missing = true; return r; }
};

struct EvalState;

/// Evaluation context of one event.
struct EventContext {
    const EventTable* table = nullptr;
    std::size_t event = 0;
    const std::map<std::string, const CollectionColumns*>* collections = nullptr;  ///< incl. derived ones
    const std::map<std::string, const RecordColumns*>* records = nullptr;  ///< null: the table's records
    const double* variables = nullptr;  ///< values of earlier variables (NaN = missing), by slot
    std::vector<Value> scope;           ///< current objects of enclosing select(...) calls
    /// Events [event, block_end) may be evaluated together by vectorised custom functions
    /// (0: one event at a time). Set by the event loop to the end of its block.
    std::size_t block_end = 0;
    /// Value slots of the compiled expressions (created on first use; one context per thread).
    std::shared_ptr<EvalState> state;
};

/// A column of values of one argument of a vectorised custom function over a block of events:
/// numbers/bools (`n` values, bools 0/1, NaN = missing) or lists (flat values, `offsets` n + 1).
struct ArgColumn {
    Type type = Type::Number;
    const double* values = nullptr;
    const std::int64_t* offsets = nullptr;  ///< lists only
};

/// A custom function: argument types, result type (Number or Bool) and the implementation:
/// `fn` per event, or `block` vectorised over a block of events (arguments number, bool, number
/// list or bool list; `out` receives n values, NaN = missing). Exceptions thrown by either become
/// EvaluationErrors naming the function, located at the call.
struct CustomFunction {
    std::vector<Type> args;
    Type result = Type::Number;
    std::function<Value(const std::vector<Value>&, const EventContext&)> fn;
    std::function<void(const std::vector<ArgColumn>& args, std::size_t n, double* out)> block;
    std::string doc;
};
/// Registers a function callable from every expression parsed afterwards (thread-safe).
/// Throws std::invalid_argument if the name is a built-in.
void register_function(const std::string& name, CustomFunction f);
/// Removes a custom function (expressions already compiled keep it). Returns whether it existed.
bool unregister_function(const std::string& name);
/// Names and one-line descriptions (signature: doc) of the built-in functions.
std::vector<std::pair<std::string, std::string>> builtins();
/// Names and docs of the registered custom functions.
std::vector<std::pair<std::string, std::string>> custom_functions_list();

struct Node;

/// Compiled form shared by several expressions: identical sub-expressions get one value slot.
class ExpressionPool {
public:
    struct Stats {
        std::size_t nodes = 0;   ///< sub-expressions compiled (all expressions)
        std::size_t slots = 0;   ///< distinct ones (value slots)
        std::size_t shared = 0;  ///< nodes - slots: sub-expressions computed once for several uses
    };
    ExpressionPool();
    ~ExpressionPool();
    Stats stats() const;
    struct Impl;
    std::unique_ptr<Impl> impl;
};

/// An error while evaluating an expression on an event (for example lists of different
/// lengths), located at the sub-expression that failed: `where`, `line`, `column` as given to
/// the Expression, so the file position of the definition.
class EvaluationError : public std::runtime_error {
public:
    EvaluationError(std::string where, int line, int column, const std::string& what)
        : std::runtime_error(what), where_(std::move(where)), line_(line), column_(column) {}
    const std::string& where() const noexcept { return where_; }
    int line() const noexcept { return line_; }
    int column() const noexcept { return column_; }

private:
    std::string where_;
    int line_, column_;
};

class Expression {
public:
    /// Parses and type-checks `text`. `where` names the source (file) for errors; `line`/`col`
    /// (1-based) locate the first character of the text in that file so that errors point at
    /// the right place. Throws ConfigError(where, line, col, message).
    /// With a `pool`, identical sub-expressions of all expressions of the pool are computed once
    /// per event (the pool must outlive its use; it is shared).
    Expression(const std::string& text, const Schema& schema, const std::string& where = "<expression>",
               int line = 1, int col = 1, std::shared_ptr<ExpressionPool> pool = nullptr);
    ~Expression();
    Expression(Expression&&) noexcept;
    Expression& operator=(Expression&&) noexcept;

    Type type() const noexcept;
    /// The collection or record an object/collection expression refers to ("" otherwise).
    const std::string& source() const noexcept;
    const std::string& text() const noexcept { return text_; }
    /// Where the text was defined (as given to the constructor).
    const std::string& where() const noexcept { return where_; }
    int line() const noexcept { return line_; }
    int column() const noexcept { return col_; }
    /// Names of the variables, collections and records the expression uses.
    std::vector<std::string> references() const;
    /// Value on one event; throws EvaluationError (or what a custom function throws).
    Value evaluate(EventContext& ctx) const;
    /// The same without a copy: the value slot, valid until the next evaluation on `ctx`.
    const Value& evaluate_ref(EventContext& ctx) const;
    /// Number/bool value of one event: NaN when missing (bools as 0/1).
    double scalar(EventContext& ctx) const;
    /// Number/bool values of events [first, last) into out[0, last - first) (NaN = missing),
    /// evaluated column-wise where possible (for model inputs: a non-missing NaN is not told apart
    /// from a missing value). `variables`: the values of the earlier variables, row e = event e
    /// (n_variables per row, NaN = missing). failed[i] = 1 where the evaluation of that event
    /// raised: evaluate it with scalar() to get the error. Changes ctx.event and ctx.variables.
    void scalar_block(EventContext& ctx, std::size_t first, std::size_t last, const double* variables,
                      std::size_t n_variables, double* out, std::uint8_t* failed) const;
    /// Values of scalar_block() left where they were computed, in ctx.state: `values` and `failed`
    /// (nullptr when no event failed) have last - first elements. They stay valid while the
    /// expressions of the same pool are evaluated block-wise on the same range and variables with
    /// the same ctx.state (identical sub-expressions and constants may be written again, with the
    /// same values); another range or variables, or destroying ctx.state, ends them. The column
    /// cache is keyed by range and variables only: after binding ctx.state to other collections,
    /// use a new state (as Analysis::run does for each table).
    struct BlockView {
        const double* values;
        const std::uint8_t* failed;
    };
    BlockView scalar_block_view(EventContext& ctx, std::size_t first, std::size_t last, const double* variables,
                                std::size_t n_variables) const;
    /// The pool the expression was compiled into.
    const std::shared_ptr<ExpressionPool>& pool() const noexcept { return pool_; }

    /// Type-checks a predicate evaluated per object of `collection` (fields by bare name, the
    /// object itself as `this`), e.g. the `select` of an object definition.
    static Expression predicate(const std::string& text, const Schema& schema, const std::string& collection,
                                const std::string& where = "<expression>", int line = 1, int col = 1,
                                std::shared_ptr<ExpressionPool> pool = nullptr);

private:
    Expression() = default;
    void compile(std::shared_ptr<ExpressionPool> pool);
    std::string text_;
    std::string where_ = "<expression>";
    int line_ = 1, col_ = 1;
    std::unique_ptr<Node> root_;
    std::shared_ptr<ExpressionPool> pool_;
    std::vector<const Node*> batched_;  ///< vectorised custom calls, innermost first
    int n_slots_ = 0;
    std::size_t n_nodes_ = 0;
};

}  // namespace recast::analysis
