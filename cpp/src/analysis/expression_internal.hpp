// Internals shared by the expression compiler (expression.cpp) and the built-in function
// records (builtins.cpp). Not installed: the public API is recast/analysis/expression.hpp.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "recast/analysis/expression.hpp"
#include "recast/analysis/functions.hpp"

namespace recast::analysis {

enum class Op { Add, Sub, Mul, Div, Mod, Pow, Lt, Le, Gt, Ge, Eq, Ne };

struct BuiltinDef;
class Checker;
class Eval;

/// Field positions of the kinematic fields (pt, eta, phi, mass) of a collection or record,
/// resolved at type-check time (-1 where absent).
using KinFields = std::array<int, 4>;

struct Node {
    enum class K { Number, Bool, Variable, Collection, Record, Field, This, Index, Slice, Neg, Not, Binary, And, Or,
                   Call, Custom, Component };
    K k = K::Number;
    Type type = Type::Number;
    std::string source;  // collection/record name for objects and collections
    bool record = false; // source is a record
    int line = 1, col = 1;
    double num = 0;
    int slot = -1;   // variable slot / field index / scope depth (This) / vector component
    Op op = Op::Add;
    const BuiltinDef* builtin = nullptr;
    bool has_lo = false, has_hi = false;
    std::string name;
    std::shared_ptr<const CustomFunction> custom;
    std::vector<std::unique_ptr<Node>> kids;
    KinFields kin{-1, -1, -1, -1};  // objects / collections: positions of pt, eta, phi, mass
    // compilation (hash-consing into the pool of the analysis)
    int id = -1;             // value slot; identical sub-expressions share one
    bool scoped = false;     // depends on the object of an enclosing predicate (`this`)
    bool cacheable = false;  // evaluated at most once per event (scope-free, not a constant)
    int name_id = -1;        // collections / records: interned name

    Node() = default;
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;
    /// Iterative: a chain of 100,000 `+` terms is a tree that deep, and the default (recursive)
    /// destruction would overflow the stack.
    ~Node() {
        std::vector<std::unique_ptr<Node>> pending;
        for (auto& k : kids)
            if (k) pending.push_back(std::move(k));
        while (!pending.empty()) {
            std::unique_ptr<Node> n = std::move(pending.back());
            pending.pop_back();
            for (auto& k : n->kids)
                if (k) pending.push_back(std::move(k));
        }  // each node is destroyed with no children left
    }
};

/// A run-time error at node `n` (position relative to the expression text; made a file
/// position by Expression::evaluate).
struct Failure : std::runtime_error {
    Failure(const Node& n, const std::string& msg) : std::runtime_error(msg), line(n.line), col(n.col) {}
    int line, col;
};
[[noreturn]] inline void runtime_fail(const Node& n, const std::string& msg) { throw Failure(n, msg); }

/// The type rule side of a built-in: argument checks with located errors.
class Checker {
public:
    virtual ~Checker() = default;
    [[noreturn]] virtual void fail(const Node& at, const std::string& msg) const = 0;
    /// Arity check (error at the function name).
    virtual void arity(std::size_t lo, std::size_t hi) const = 0;
    /// Argument i must have one of the types.
    virtual void want(std::size_t i, std::initializer_list<Type> types) const = 0;
    /// Argument i (object / collection) must have pt and phi fields (vectors always do).
    virtual void need_p4(std::size_t i) const = 0;
    /// The schema must have the record `met` with a `pt` field.
    virtual void need_met() const = 0;
    virtual const std::string& function() const = 0;
};

struct Kin {
    double pt, eta, phi, m;
};

/// Evaluation side of a built-in: arguments by reference to their (reused) value slots.
class Eval {
public:
    virtual ~Eval() = default;
    /// Value of argument i (valid until the next call of arg() that may evaluate the same node).
    virtual const Value& arg(std::size_t i) = 0;
    virtual EventContext& ctx() = 0;
    /// Evaluates argument i once per object of the collection `c` (as `this` of a predicate),
    /// keeping the objects for which it is true.
    virtual void select(const Value& c, std::size_t i, std::vector<std::int64_t>& kept) = 0;
    /// The record `met` of the event (object value).
    virtual Value met() = 0;
};

/// Block side of a built-in (the columnar evaluation of model inputs, events [first, first + size)).
class ColumnEval {
public:
    virtual ~ColumnEval() = default;
    virtual std::size_t first() const = 0;
    virtual std::size_t size() const = 0;
    /// The columns of argument i when it is a collection by name; nullptr otherwise (or absent).
    virtual const CollectionColumns* collection(std::size_t i) = 0;
    /// met.pt over the block (element 0 = event first), or nullptr without a record `met` with pt.
    virtual const double* met_pt() = 0;
};

/// One built-in function: everything about it in one record (see builtins.cpp).
struct BuiltinDef {
    const char* name;
    const char* signature;  // e.g. "dphi(a: object|vector, b: object|vector) -> number"
    const char* doc;
    /// Type rule: checks the arguments (n.kids) and sets n.type (and n.source for collections).
    void (*check)(Checker& c, Node& n);
    /// Evaluation into `out` (a reused slot: set every field the result type uses).
    void (*eval)(const Node& n, Eval& ev, Value& out);
    /// Index of an argument parsed as a predicate over the objects of argument 0 (select), or -1.
    int predicate_arg = -1;
    /// Reads the record `met` implicitly.
    bool uses_met = false;
    /// Optional element-wise form of a one-argument numeric function (NaN = missing), used by the
    /// columnar evaluation of model inputs.
    double (*scalar)(double) = nullptr;
    /// Optional block form: fills out[0, cv.size()) with the values of cv's events (NaN = missing)
    /// and returns true, or returns false where it does not apply (then evaluated event by event).
    /// The values must equal `eval`'s bit for bit.
    bool (*column)(const Node& n, ColumnEval& cv, double* out) = nullptr;
};

/// The registry of built-ins (builtins.cpp).
const std::vector<BuiltinDef>& builtin_table();
const BuiltinDef* find_builtin(const std::string& name);

// ---- value helpers ------------------------------------------------------------------------------
inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

inline void set_number(Value& out, double x, Type t = Type::Number) {
    out.type = t, out.x = x, out.missing = false;
}
inline void set_none(Value& out, Type t) {
    out.type = t, out.x = 0.0, out.missing = true;
    out.list.clear(), out.list_missing.clear(), out.idx.clear();
    out.coll = nullptr, out.rec = nullptr, out.obj = -1;
    out.px = out.py = out.pz = out.e = 0.0;
}
inline void set_vector(Value& out, const fn::P4& p) {
    out.type = Type::Vector, out.missing = false, out.x = 0.0;
    out.px = p.px, out.py = p.py, out.pz = p.pz, out.e = p.e;
}
inline fn::P4 p4_of_vector(const Value& v) {
    fn::P4 p;
    p.px = v.px, p.py = v.py, p.pz = v.pz, p.e = v.e;
    return p;
}
/// Kinematics of an object (fields resolved at compile time) or a vector.
Kin kin_of(const Value& v);
/// Four-momentum of an object or vector.
fn::P4 p4_of(const Value& v);
/// Object i of a collection value.
void object_of(const Value& coll, std::size_t i, Value& out);
/// Adds the momenta of an object, collection or vector to `sum` (missing objects set `missing`).
void add_p4(const Value& v, fn::P4& sum, bool& missing);

}  // namespace recast::analysis
