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
// Types: number, bool, object, collection, number list, bool list. `jets.pt` is a number list,
// `jets.pt > 50` a bool list, `jets[0]` an object, `jets[1:3]` a collection; lists broadcast
// against numbers.
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
// Built-in functions are documented in `functions.hpp` (formulas) and listed by `builtins()`;
// custom C++ functions are added with `register_function`.
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

enum class Type { Number, Bool, Object, Collection, NumberList, BoolList };
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

    static Value number(double v) { Value r; r.x = v; return r; }
    static Value boolean(bool v) { Value r; r.type = Type::Bool; r.x = v ? 1.0 : 0.0; return r; }
    static Value none(Type t) { Value r; r.type = t; r.missing = true; return r; }
};

/// Evaluation context of one event.
struct EventContext {
    const EventTable* table = nullptr;
    std::size_t event = 0;
    const std::map<std::string, const CollectionColumns*>* collections = nullptr;  ///< incl. derived ones
    const std::map<std::string, const RecordColumns*>* records = nullptr;  ///< null: the table's records
    const double* variables = nullptr;  ///< values of earlier variables (NaN = missing), by slot
    std::vector<Value> scope;           ///< current objects of enclosing select(...) calls
};

/// A custom function: argument types, result type (Number or Bool) and the implementation.
struct CustomFunction {
    std::vector<Type> args;
    Type result = Type::Number;
    std::function<Value(const std::vector<Value>&, const EventContext&)> fn;
    std::string doc;
};
/// Registers a function callable from every expression parsed afterwards (thread-safe).
/// Throws std::invalid_argument if the name is a built-in.
void register_function(const std::string& name, CustomFunction f);
/// Names and one-line descriptions of the built-in functions.
std::vector<std::pair<std::string, std::string>> builtins();

struct Node;

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
    Expression(const std::string& text, const Schema& schema, const std::string& where = "<expression>",
               int line = 1, int col = 1);
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
    /// Number/bool value of one event: NaN when missing (bools as 0/1).
    double scalar(EventContext& ctx) const;

    /// Type-checks a predicate evaluated per object of `collection` (fields by bare name, the
    /// object itself as `this`), e.g. the `select` of an object definition.
    static Expression predicate(const std::string& text, const Schema& schema, const std::string& collection,
                                const std::string& where = "<expression>", int line = 1, int col = 1);

private:
    Expression() = default;
    std::string text_;
    std::string where_ = "<expression>";
    int line_ = 1, col_ = 1;
    std::unique_ptr<Node> root_;
};

}  // namespace recast::analysis
