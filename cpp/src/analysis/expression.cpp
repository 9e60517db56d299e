#include "recast/analysis/expression.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "recast/analysis/functions.hpp"
#include "recast/errors.hpp"

namespace recast::analysis {

const char* type_name(Type t) noexcept {
    switch (t) {
        case Type::Number: return "number";
        case Type::Bool: return "bool";
        case Type::Object: return "object";
        case Type::Collection: return "collection";
        case Type::NumberList: return "number list";
        case Type::BoolList: return "bool list";
    }
    return "?";
}

// ------------------------------------------------------------------------------------------------
// built-in functions
// ------------------------------------------------------------------------------------------------
namespace {

enum class Fn {
    Abs, Sqrt, Exp, Log, Sin, Cos, Tan, Sinh, Cosh, Tanh, Atan2, Pow, Min, Max, Count, Any, All, Sum, Select, DR, DPhi, DEta, MT, MT2,
    M, VPt, HT, Meff, MetOverSqrtHT, Aplanarity, Sphericity, MinDPhi, If, MaxPtMass, MinMaxMass, MinDR, MinMaxPairMass
};

struct Builtin {
    const char* name;
    Fn fn;
    const char* doc;
};

const Builtin kBuiltins[] = {
    {"abs", Fn::Abs, "abs(x): |x| (numbers or element-wise on a number list)"},
    {"sqrt", Fn::Sqrt, "sqrt(x) (element-wise on lists)"},
    {"exp", Fn::Exp, "exp(x) (element-wise on lists)"},
    {"log", Fn::Log, "log(x), natural logarithm (element-wise on lists)"},
    {"sin", Fn::Sin, "sin(x) (element-wise on lists)"},
    {"cos", Fn::Cos, "cos(x) (element-wise on lists)"},
    {"tan", Fn::Tan, "tan(x) (element-wise on lists)"},
    {"sinh", Fn::Sinh, "sinh(x) (element-wise on lists)"},
    {"cosh", Fn::Cosh, "cosh(x) (element-wise on lists); E = pT cosh(eta) for massless objects"},
    {"tanh", Fn::Tanh, "tanh(x) (element-wise on lists)"},
    {"atan2", Fn::Atan2, "atan2(y, x)"},
    {"pow", Fn::Pow, "pow(x, y) = x**y"},
    {"min", Fn::Min, "min(a, b, ...) of numbers, or min(list); missing for an empty list"},
    {"max", Fn::Max, "max(a, b, ...) of numbers, or max(list); missing for an empty list"},
    {"count", Fn::Count, "count(collection) = number of objects; count(bool list) = number of true"},
    {"any", Fn::Any, "any(bool list)"},
    {"all", Fn::All, "all(bool list) (true for an empty list)"},
    {"sum", Fn::Sum, "sum(number list)"},
    {"select", Fn::Select, "select(collection, predicate): the objects for which the predicate (fields by bare name, "
                           "the object as `this`) is true, order kept"},
    {"dR", Fn::DR, "dR(a, b) = sqrt(d_eta^2 + d_phi^2) of two objects"},
    {"dphi", Fn::DPhi, "dphi(a, b) = |phi_a - phi_b| in [0, pi]"},
    {"deta", Fn::DEta, "deta(a, b) = |eta_a - eta_b|"},
    {"mT", Fn::MT, "mT(a, b): mT^2 = m_a^2 + m_b^2 + 2 (ET_a ET_b - pT_a . pT_b), ET = sqrt(m^2 + pT^2)"},
    {"mT2", Fn::MT2, "mT2(a, b, met[, m_invisible = 0]): stransverse mass, Lester-Nachman bisection (arXiv:1411.4312)"},
    {"m", Fn::M, "m(x, ...): invariant mass of the four-vector sum of the objects/collections given"},
    {"vpt", Fn::VPt, "vpt(x, ...): pT of the four-vector sum of the objects/collections given"},
    {"HT", Fn::HT, "HT(collection) = scalar sum of pT"},
    {"meff", Fn::Meff, "meff(collection[, N]) = scalar pT sum of the first N objects (default all) + met.pt"},
    {"met_over_sqrt_ht", Fn::MetOverSqrtHT, "met_over_sqrt_ht(collection) = met.pt / sqrt(HT(collection)) [GeV^1/2]"},
    {"aplanarity", Fn::Aplanarity, "aplanarity(collection) = 3/2 l3 of the momentum tensor sum p^a p^b / sum |p|^2"},
    {"sphericity", Fn::Sphericity, "sphericity(collection) = 3/2 (l2 + l3) of the momentum tensor"},
    {"min_dphi", Fn::MinDPhi, "min_dphi(collection, object[, N]) = min over the first N objects (default all) of "
                              "dphi(object_i, object); missing if there is none"},
    {"if", Fn::If, "if(condition, a, b): a where the condition is true, else b"},
    {"max_pt_mass", Fn::MaxPtMass, "max_pt_mass(collection, k[, object, ...]): over all k-object combinations of the "
                                   "collection (plus the extra objects, e.g. a lepton and met as (px, py, 0, pT)), the "
                                   "invariant mass of the one with the largest vector pT; missing with fewer than k"},
    {"minmax_mass", Fn::MinMaxMass, "minmax_mass(collection): over all 2^N splittings into two groups (one may be "
                                    "empty), min of max(m(group 1), m(group 2)); N <= 16"},
    {"min_max_pair_mass", Fn::MinMaxPairMass, "min_max_pair_mass(a, b, c): over ordered pairs i != k of objects of the "
                                              "collection c, min of max(m(a + c_i), m(b + c_k)) (e.g. m_lj of 2lSS "
                                              "searches); missing with fewer than 2 objects"},
    {"min_dr", Fn::MinDR, "min_dr(a, b): smallest dR between objects of a and b (objects or collections); missing "
                          "if there is no pair"},
};

const Builtin* find_builtin(const std::string& name) {
    for (const auto& b : kBuiltins)
        if (name == b.name) return &b;
    return nullptr;
}

std::mutex g_custom_mutex;
std::map<std::string, std::shared_ptr<const CustomFunction>>& custom_functions() {
    static std::map<std::string, std::shared_ptr<const CustomFunction>> m;
    return m;
}

}  // namespace

void register_function(const std::string& name, CustomFunction f) {
    if (find_builtin(name)) throw std::invalid_argument("'" + name + "' is a built-in function");
    if (f.result != Type::Number && f.result != Type::Bool)
        throw std::invalid_argument("custom function '" + name + "' must return a number or a bool");
    if (!f.fn) throw std::invalid_argument("custom function '" + name + "' has no implementation");
    std::lock_guard<std::mutex> lock(g_custom_mutex);
    custom_functions()[name] = std::make_shared<const CustomFunction>(std::move(f));
}

std::vector<std::pair<std::string, std::string>> builtins() {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& b : kBuiltins) out.emplace_back(b.name, b.doc);
    return out;
}

// ------------------------------------------------------------------------------------------------
// AST
// ------------------------------------------------------------------------------------------------
enum class Op { Add, Sub, Mul, Div, Mod, Pow, Lt, Le, Gt, Ge, Eq, Ne };

struct Node {
    enum class K { Number, Bool, Variable, Collection, Record, Field, This, Index, Slice, Neg, Not, Binary, And, Or,
                   Call, Custom };
    K k = K::Number;
    Type type = Type::Number;
    std::string source;  // collection/record name for objects and collections
    bool record = false; // source is a record
    int line = 1, col = 1;
    double num = 0;
    int slot = -1;   // variable slot / field index / scope depth (This)
    Op op = Op::Add;
    Fn fn = Fn::Abs;
    bool has_lo = false, has_hi = false;
    std::string name;
    std::shared_ptr<const CustomFunction> custom;
    std::vector<std::unique_ptr<Node>> kids;

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

namespace {

/// Chains of left-associative binary operators (`a + b - c < d`, `x and y or z`) are evaluated
/// along their left spine without recursion: an edge from such a node to its left operand of
/// the same family does not count towards the nesting depth.
bool chain_edge(const Node& parent, const Node& left) {
    const auto logical = [](Node::K k) { return k == Node::K::And || k == Node::K::Or; };
    return (parent.k == Node::K::Binary && left.k == Node::K::Binary) || (logical(parent.k) && logical(left.k));
}

}  // namespace

namespace {

// ------------------------------------------------------------------------------------------------
// tokens
// ------------------------------------------------------------------------------------------------
struct Token {
    enum K { End, Num, Name, Sym } k = End;
    std::string text;
    double value = 0;
    int line = 1, col = 1;
};

class Parser {
public:
    Parser(const std::string& text, const Schema& schema, std::string where, int line0, int col0)
        : text_(text), schema_(schema), where_(std::move(where)), line0_(line0), col0_(col0) {
        tokenize();
    }

    std::unique_ptr<Node> parse_all() {
        auto n = parse_or();
        if (peek().k != Token::End) fail(peek(), "unexpected '" + peek().text + "' after the end of the expression");
        check_depth(*n);
        return n;
    }

    std::vector<std::string> scopes;  // collection names of enclosing select predicates / object predicates

private:
    const std::string& text_;
    const Schema& schema_;
    std::string where_;
    int line0_, col0_;
    std::vector<Token> toks_;
    std::size_t pos_ = 0;
    int depth_ = 0;  // current nesting of the recursive descent

    /// One level of nesting (parentheses, call arguments, unary operators, `**`, postfix
    /// operators): fails cleanly before the recursion can exhaust the stack.
    class Nest {
    public:
        Nest(Parser& p, const Token& at) : p_(p) {
            if (++p_.depth_ > kMaxExpressionDepth) p_.too_deep(at.line, at.col);
        }
        ~Nest() { --p_.depth_; }
        Nest(const Nest&) = delete;
        Nest& operator=(const Nest&) = delete;

    private:
        Parser& p_;
    };

    [[noreturn]] void too_deep(int line, int col) const {
        fail(line, col, "expression nested deeper than " + std::to_string(kMaxExpressionDepth) + " levels");
    }

    /// The evaluation recursion is as deep as the tree (less the chain edges); postfix chains
    /// and mixed operators can make it deeper than the parser's nesting: checked here, without
    /// recursion, at the first node too deep.
    void check_depth(const Node& root) const {
        std::vector<std::pair<const Node*, int>> stack{{&root, 0}};
        while (!stack.empty()) {
            const auto [n, d] = stack.back();
            stack.pop_back();
            for (std::size_t i = 0; i < n->kids.size(); ++i) {
                const Node& k = *n->kids[i];
                const int dk = d + (i == 0 && chain_edge(*n, k) ? 0 : 1);
                if (dk > kMaxExpressionDepth) too_deep(k.line, k.col);
                stack.emplace_back(&k, dk);
            }
        }
    }

    [[noreturn]] void fail(int line, int col, const std::string& msg) const {
        const int file_line = line0_ + line - 1;
        const int file_col = line == 1 ? col0_ + col - 1 : col;
        std::ostringstream os;
        os << msg << "\n    " << current_line(line) << "\n    " << std::string(static_cast<std::size_t>(std::max(col - 1, 0)), ' ')
           << "^";
        throw ConfigError(where_, file_line, file_col, os.str());
    }
    [[noreturn]] void fail(const Token& t, const std::string& msg) const { fail(t.line, t.col, msg); }
    [[noreturn]] void fail(const Node& n, const std::string& msg) const { fail(n.line, n.col, msg); }

    std::string current_line(int line) const {
        std::istringstream is(text_);
        std::string l;
        for (int i = 0; i < line && std::getline(is, l); ++i) {}
        return l;
    }

    void tokenize() {
        int line = 1, col = 1;
        std::size_t i = 0;
        auto advance = [&](std::size_t n) {
            for (std::size_t k = 0; k < n; ++k, ++i) {
                if (text_[i] == '\n') ++line, col = 1;
                else ++col;
            }
        };
        while (i < text_.size()) {
            const char c = text_[i];
            if (std::isspace(static_cast<unsigned char>(c))) {
                advance(1);
                continue;
            }
            Token t;
            t.line = line, t.col = col;
            if (std::isdigit(static_cast<unsigned char>(c)) ||
                (c == '.' && i + 1 < text_.size() && std::isdigit(static_cast<unsigned char>(text_[i + 1])))) {
                std::size_t j = i;
                while (j < text_.size() && (std::isdigit(static_cast<unsigned char>(text_[j])) || text_[j] == '.')) ++j;
                if (j < text_.size() && (text_[j] == 'e' || text_[j] == 'E')) {
                    std::size_t k = j + 1;
                    if (k < text_.size() && (text_[k] == '+' || text_[k] == '-')) ++k;
                    if (k < text_.size() && std::isdigit(static_cast<unsigned char>(text_[k]))) {
                        j = k;
                        while (j < text_.size() && std::isdigit(static_cast<unsigned char>(text_[j]))) ++j;
                    }
                }
                t.k = Token::Num;
                t.text = text_.substr(i, j - i);
                try {
                    std::size_t used = 0;
                    t.value = std::stod(t.text, &used);
                    if (used != t.text.size()) throw std::invalid_argument("");
                } catch (const std::exception&) {
                    fail(t, "malformed number '" + t.text + "'");
                }
                advance(j - i);
            } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
                std::size_t j = i;
                while (j < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[j])) || text_[j] == '_')) ++j;
                t.k = Token::Name;
                t.text = text_.substr(i, j - i);
                advance(j - i);
            } else {
                static const char* two[] = {"<=", ">=", "==", "!=", "&&", "||", "**"};
                t.k = Token::Sym;
                for (const char* s : two)
                    if (text_.compare(i, 2, s) == 0) t.text = s;
                if (t.text.empty()) {
                    if (c == '=') fail(t, "'=' is not an operator; use '==' to compare");
                    if (std::string("+-*/%()[],.:<>!").find(c) == std::string::npos)
                        fail(t, std::string("unexpected character '") + c + "'");
                    t.text = std::string(1, c);
                }
                advance(t.text.size());
            }
            toks_.push_back(t);
        }
        Token end;
        end.line = line, end.col = col;
        toks_.push_back(end);
    }

    const Token& peek() const { return toks_[pos_]; }
    bool at(const char* sym) const { return peek().k == Token::Sym && peek().text == sym; }
    bool at_name(const char* n) const { return peek().k == Token::Name && peek().text == n; }
    Token take() { return toks_[pos_++]; }
    void expect(const char* sym, const char* what) {
        if (!at(sym)) fail(peek(), std::string("expected '") + sym + "' " + what + ", found " + describe(peek()));
        ++pos_;
    }
    static std::string describe(const Token& t) { return t.k == Token::End ? "the end of the expression" : "'" + t.text + "'"; }

    static std::unique_ptr<Node> make(Node::K k, Type type, const Token& at) {
        auto n = std::make_unique<Node>();
        n->k = k, n->type = type, n->line = at.line, n->col = at.col;
        return n;
    }

    static bool is_scalar(Type t) { return t == Type::Number || t == Type::Bool; }
    static bool numeric(Type t) { return t == Type::Number || t == Type::NumberList; }
    static bool boolish(Type t) { return t == Type::Bool || t == Type::BoolList; }
    static bool is_list(Type t) { return t == Type::NumberList || t == Type::BoolList; }

    std::unique_ptr<Node> parse_or() {
        const Nest nest(*this, peek());
        auto l = parse_and();
        while (at_name("or") || at("||")) {
            const Token t = take();
            auto r = parse_and();
            l = logical(Node::K::Or, std::move(l), std::move(r), t);
        }
        return l;
    }
    std::unique_ptr<Node> parse_and() {
        auto l = parse_not();
        while (at_name("and") || at("&&")) {
            const Token t = take();
            auto r = parse_not();
            l = logical(Node::K::And, std::move(l), std::move(r), t);
        }
        return l;
    }
    std::unique_ptr<Node> logical(Node::K k, std::unique_ptr<Node> l, std::unique_ptr<Node> r, const Token& t) {
        for (const Node* x : {l.get(), r.get()})
            if (x->type != Type::Bool)
                fail(*x, std::string("'") + t.text + "' needs bool operands, this is a " + type_name(x->type) +
                             (is_list(x->type) ? " (use any(...), all(...) or count(...))" : ""));
        auto n = make(k, Type::Bool, t);
        n->line = l->line, n->col = l->col;
        n->kids.push_back(std::move(l));
        n->kids.push_back(std::move(r));
        return n;
    }
    std::unique_ptr<Node> parse_not() {
        if (at_name("not") || at("!")) {
            const Token t = take();
            const Nest nest(*this, t);
            auto x = parse_not();
            if (!boolish(x->type)) fail(*x, std::string("'not' needs a bool, this is a ") + type_name(x->type));
            auto n = make(Node::K::Not, x->type, t);
            n->kids.push_back(std::move(x));
            return n;
        }
        return parse_cmp();
    }
    std::unique_ptr<Node> parse_cmp() {
        auto l = parse_sum();
        static const std::pair<const char*, Op> ops[] = {{"<", Op::Lt}, {"<=", Op::Le}, {">", Op::Gt},
                                                         {">=", Op::Ge}, {"==", Op::Eq}, {"!=", Op::Ne}};
        for (const auto& [s, op] : ops)
            if (at(s)) {
                const Token t = take();
                auto r = parse_sum();
                const bool eq = op == Op::Eq || op == Op::Ne;
                const bool ok = (numeric(l->type) && numeric(r->type)) || (eq && boolish(l->type) && boolish(r->type));
                if (!ok)
                    fail(t, std::string("cannot compare a ") + type_name(l->type) + " with a " + type_name(r->type));
                auto n = make(Node::K::Binary, is_list(l->type) || is_list(r->type) ? Type::BoolList : Type::Bool, t);
                n->line = l->line, n->col = l->col;
                n->op = op;
                n->kids.push_back(std::move(l));
                n->kids.push_back(std::move(r));
                if (at("<") || at("<=") || at(">") || at(">=") || at("==") || at("!="))
                    fail(peek(), "comparisons do not chain; write 'a < b and b < c'");
                return n;
            }
        return l;
    }
    std::unique_ptr<Node> arithmetic(Op op, std::unique_ptr<Node> l, std::unique_ptr<Node> r, const Token& t) {
        for (const Node* x : {l.get(), r.get()})
            if (!numeric(x->type))
                fail(*x, std::string("'") + t.text + "' needs numbers, this is a " + type_name(x->type));
        auto n = make(Node::K::Binary, is_list(l->type) || is_list(r->type) ? Type::NumberList : Type::Number, t);
        n->line = l->line, n->col = l->col;
        n->op = op;
        n->kids.push_back(std::move(l));
        n->kids.push_back(std::move(r));
        return n;
    }
    std::unique_ptr<Node> parse_sum() {
        auto l = parse_prod();
        while (at("+") || at("-")) {
            const Token t = take();
            auto r = parse_prod();
            l = arithmetic(t.text == "+" ? Op::Add : Op::Sub, std::move(l), std::move(r), t);
        }
        return l;
    }
    std::unique_ptr<Node> parse_prod() {
        auto l = parse_unary();
        while (at("*") || at("/") || at("%")) {
            const Token t = take();
            auto r = parse_unary();
            l = arithmetic(t.text == "*" ? Op::Mul : t.text == "/" ? Op::Div : Op::Mod, std::move(l), std::move(r), t);
        }
        return l;
    }
    std::unique_ptr<Node> parse_unary() {
        if (at("-")) {
            const Token t = take();
            const Nest nest(*this, t);
            auto x = parse_unary();
            if (!numeric(x->type)) fail(*x, std::string("unary '-' needs a number, this is a ") + type_name(x->type));
            auto n = make(Node::K::Neg, x->type, t);
            n->kids.push_back(std::move(x));
            return n;
        }
        if (at("+")) take();
        return parse_power();
    }
    std::unique_ptr<Node> parse_power() {
        auto l = parse_postfix();
        if (at("**")) {
            const Token t = take();
            const Nest nest(*this, t);
            auto r = parse_unary();
            return arithmetic(Op::Pow, std::move(l), std::move(r), t);
        }
        return l;
    }

    const std::vector<std::string>* fields_of(const Node& n) const {
        if (n.record) {
            auto it = schema_.records.find(n.source);
            return it == schema_.records.end() ? nullptr : &it->second;
        }
        auto it = schema_.collections.find(n.source);
        return it == schema_.collections.end() ? nullptr : &it->second;
    }

    static std::string join(const std::vector<std::string>& v) {
        std::string s;
        for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
        return s;
    }

    static std::size_t edit_distance(const std::string& a, const std::string& b) {
        std::vector<std::size_t> d(b.size() + 1);
        for (std::size_t j = 0; j <= b.size(); ++j) d[j] = j;
        for (std::size_t i = 1; i <= a.size(); ++i) {
            std::size_t prev = d[0];
            d[0] = i;
            for (std::size_t j = 1; j <= b.size(); ++j) {
                const std::size_t cur = d[j];
                d[j] = std::min({d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1)});
                prev = cur;
            }
        }
        return d[b.size()];
    }
    static std::string suggest(const std::string& name, const std::vector<std::string>& known) {
        std::string best;
        std::size_t bd = 3;
        for (const auto& k : known) {
            const auto d = edit_distance(name, k);
            if (d < bd) bd = d, best = k;
        }
        return best.empty() ? "" : " (did you mean '" + best + "'?)";
    }

    bool is_bool_field(const std::string& source, const std::string& field) const {
        auto it = schema_.bool_fields.find(source);
        return it != schema_.bool_fields.end() && std::find(it->second.begin(), it->second.end(), field) != it->second.end();
    }

    std::unique_ptr<Node> field_access(std::unique_ptr<Node> obj, const Token& name) {
        if (obj->type != Type::Object && obj->type != Type::Collection)
            fail(name, std::string("'.") + name.text + "' needs an object or a collection, this is a " + type_name(obj->type));
        const auto* fields = fields_of(*obj);
        const auto it = std::find(fields->begin(), fields->end(), name.text);
        if (it == fields->end())
            fail(name, "'" + obj->source + "' has no field '" + name.text + "'" + suggest(name.text, *fields) +
                           "; fields: " + join(*fields));
        const bool flag = is_bool_field(obj->source, name.text);
        auto n = make(Node::K::Field,
                      obj->type == Type::Object ? (flag ? Type::Bool : Type::Number) : (flag ? Type::BoolList : Type::NumberList),
                      name);
        n->slot = static_cast<int>(it - fields->begin());
        n->line = obj->line, n->col = obj->col;
        n->kids.push_back(std::move(obj));
        return n;
    }

    std::unique_ptr<Node> parse_postfix() {
        auto n = parse_primary();
        const int depth0 = depth_;
        for (;;) {
            if (at(".") || at("[")) {  // each postfix operator nests the expression one level deeper
                if (++depth_ > kMaxExpressionDepth) too_deep(peek().line, peek().col);
            }
            if (at(".")) {
                take();
                if (peek().k != Token::Name) fail(peek(), "expected a field name after '.', found " + describe(peek()));
                n = field_access(std::move(n), take());
            } else if (at("[")) {
                const Token t = take();
                if (n->type != Type::Collection && !is_list(n->type))
                    fail(t, std::string("only collections and lists can be indexed, this is a ") + type_name(n->type));
                std::unique_ptr<Node> lo, hi;
                if (!at(":")) lo = parse_or();
                if (at(":")) {
                    take();
                    if (!at("]")) hi = parse_or();
                    expect("]", "to close the slice");
                    auto s = make(Node::K::Slice, n->type, t);
                    s->line = n->line, s->col = n->col;
                    s->source = n->source, s->record = n->record;
                    s->has_lo = lo != nullptr, s->has_hi = hi != nullptr;
                    s->kids.push_back(std::move(n));
                    for (auto* b : {&lo, &hi})
                        if (*b) {
                            if ((*b)->type != Type::Number) fail(**b, "slice bounds must be numbers");
                            s->kids.push_back(std::move(*b));
                        }
                    n = std::move(s);
                } else {
                    expect("]", "to close the index");
                    if (!lo) fail(t, "empty index");
                    if (lo->type != Type::Number) fail(*lo, std::string("an index must be a number, this is a ") + type_name(lo->type));
                    const Type elem = n->type == Type::Collection ? Type::Object
                                      : n->type == Type::NumberList ? Type::Number
                                                                    : Type::Bool;
                    auto s = make(Node::K::Index, elem, t);
                    s->line = n->line, s->col = n->col;
                    s->source = n->source, s->record = n->record;
                    s->kids.push_back(std::move(n));
                    s->kids.push_back(std::move(lo));
                    n = std::move(s);
                }
            } else {
                depth_ = depth0;
                return n;
            }
        }
    }

    std::vector<std::string> known_names() const {
        std::vector<std::string> v;
        for (const auto& [k, _] : schema_.collections) v.push_back(k);
        for (const auto& [k, _] : schema_.records) v.push_back(k);
        for (const auto& [k, _] : schema_.variables) v.push_back(k);
        if (!scopes.empty()) {
            const auto& f = schema_.collections.at(scopes.back());
            v.insert(v.end(), f.begin(), f.end());
        }
        return v;
    }

    std::unique_ptr<Node> parse_primary() {
        const Token t = peek();
        if (t.k == Token::Num) {
            take();
            auto n = make(Node::K::Number, Type::Number, t);
            n->num = t.value;
            return n;
        }
        if (at("(")) {
            take();
            auto n = parse_or();
            expect(")", "to close '('");
            return n;
        }
        if (t.k != Token::Name) fail(t, "expected a number, a name or '(', found " + describe(t));
        take();
        if (t.text == "true" || t.text == "false") {
            auto n = make(Node::K::Bool, Type::Bool, t);
            n->num = t.text == "true" ? 1.0 : 0.0;
            return n;
        }
        if (at("(")) return parse_call(t);
        if (t.text == "this") {
            if (scopes.empty()) fail(t, "'this' is only defined inside a predicate (select(...) or an object selection)");
            auto n = make(Node::K::This, Type::Object, t);
            n->source = scopes.back();
            n->slot = static_cast<int>(scopes.size()) - 1;
            return n;
        }
        if (!scopes.empty()) {  // a field of the current object
            const auto& fields = schema_.collections.at(scopes.back());
            const auto it = std::find(fields.begin(), fields.end(), t.text);
            if (it != fields.end()) {
                auto self = make(Node::K::This, Type::Object, t);
                self->source = scopes.back();
                self->slot = static_cast<int>(scopes.size()) - 1;
                auto n = make(Node::K::Field, is_bool_field(scopes.back(), t.text) ? Type::Bool : Type::Number, t);
                n->slot = static_cast<int>(it - fields.begin());
                n->kids.push_back(std::move(self));
                return n;
            }
        }
        if (auto it = schema_.variables.find(t.text); it != schema_.variables.end()) {
            auto n = make(Node::K::Variable, it->second, t);
            const auto& order = schema_.variable_order;
            n->slot = static_cast<int>(std::find(order.begin(), order.end(), t.text) - order.begin());
            n->name = t.text;
            return n;
        }
        if (schema_.collections.count(t.text)) {
            auto n = make(Node::K::Collection, Type::Collection, t);
            n->source = n->name = t.text;
            return n;
        }
        if (schema_.records.count(t.text)) {
            auto n = make(Node::K::Record, Type::Object, t);
            n->source = n->name = t.text;
            n->record = true;
            return n;
        }
        if (t.text == "pi") {
            auto n = make(Node::K::Number, Type::Number, t);
            n->num = 3.14159265358979323846;
            return n;
        }
        if (find_builtin(t.text)) fail(t, "'" + t.text + "' is a function; call it as " + t.text + "(...)");
        fail(t, "unknown name '" + t.text + "'" + suggest(t.text, known_names()));
    }

    void need_p4(const Node& n) const {
        const auto* f = fields_of(n);
        for (const char* x : {"pt", "phi"})
            if (!f || std::find(f->begin(), f->end(), x) == f->end())
                fail(n, "'" + n.source + "' has no field '" + x + "' needed for kinematics");
    }

    std::unique_ptr<Node> parse_call(const Token& name) {
        take();  // '('
        std::vector<std::unique_ptr<Node>> args;
        const Builtin* b = find_builtin(name.text);
        std::shared_ptr<const CustomFunction> custom;
        if (!b) {
            std::lock_guard<std::mutex> lock(g_custom_mutex);
            auto it = custom_functions().find(name.text);
            if (it != custom_functions().end()) custom = it->second;
        }
        if (!b && !custom) {
            std::vector<std::string> names;
            for (const auto& x : kBuiltins) names.emplace_back(x.name);
            for (const auto& [k, _] : custom_functions()) names.push_back(k);
            fail(name, "unknown function '" + name.text + "'" + suggest(name.text, names));
        }
        if (!at(")")) {
            for (;;) {
                if (b && b->fn == Fn::Select && args.size() == 1) {  // the predicate, in the object's scope
                    if (args[0]->type != Type::Collection) fail(*args[0], "select(...) needs a collection first");
                    scopes.push_back(args[0]->source);
                    args.push_back(parse_or());
                    scopes.pop_back();
                } else {
                    args.push_back(parse_or());
                }
                if (at(",")) {
                    take();
                    continue;
                }
                break;
            }
        }
        expect(")", ("to close the call of " + name.text + "(").c_str());
        if (custom) {
            if (args.size() != custom->args.size())
                fail(name, name.text + "(...) takes " + std::to_string(custom->args.size()) + " arguments, got " +
                               std::to_string(args.size()));
            for (std::size_t i = 0; i < args.size(); ++i)
                if (args[i]->type != custom->args[i])
                    fail(*args[i], "argument " + std::to_string(i + 1) + " of " + name.text + " must be a " +
                                       type_name(custom->args[i]) + ", this is a " + type_name(args[i]->type));
            auto n = make(Node::K::Custom, custom->result, name);
            n->custom = custom;
            n->name = name.text;
            n->kids = std::move(args);
            return n;
        }
        auto n = make(Node::K::Call, Type::Number, name);
        n->fn = b->fn;
        n->name = name.text;
        check_call(*n, args, name);
        n->kids = std::move(args);
        return n;
    }

    void arity(const Token& name, const std::vector<std::unique_ptr<Node>>& a, std::size_t lo, std::size_t hi) const {
        if (a.size() < lo || a.size() > hi) {
            const std::string want = lo == hi ? std::to_string(lo) : std::to_string(lo) + " to " + std::to_string(hi);
            fail(name, name.text + "(...) takes " + want + " argument" + (hi == 1 ? "" : "s") + ", got " +
                           std::to_string(a.size()));
        }
    }
    void want(const Node& arg, std::initializer_list<Type> types, const std::string& fname, std::size_t i) const {
        for (Type t : types)
            if (arg.type == t) return;
        std::string s;
        for (Type t : types) s += (s.empty() ? "" : " or ") + std::string(type_name(t));
        fail(arg, "argument " + std::to_string(i + 1) + " of " + fname + " must be a " + s + ", this is a " +
                      type_name(arg.type));
    }

    void check_call(Node& n, std::vector<std::unique_ptr<Node>>& a, const Token& name) {
        const std::string& f = name.text;
        switch (n.fn) {
            case Fn::Abs: case Fn::Sqrt: case Fn::Exp: case Fn::Log: case Fn::Sin: case Fn::Cos: case Fn::Tan: case Fn::Sinh: case Fn::Cosh: case Fn::Tanh:
                arity(name, a, 1, 1);
                want(*a[0], {Type::Number, Type::NumberList}, f, 0);
                n.type = a[0]->type;
                return;
            case Fn::Atan2: case Fn::Pow:
                arity(name, a, 2, 2);
                for (std::size_t i = 0; i < 2; ++i) want(*a[i], {Type::Number}, f, i);
                return;
            case Fn::Min: case Fn::Max:
                if (a.size() == 1) {
                    want(*a[0], {Type::NumberList}, f, 0);
                } else {
                    arity(name, a, 2, 64);
                    for (std::size_t i = 0; i < a.size(); ++i) want(*a[i], {Type::Number}, f, i);
                }
                return;
            case Fn::Count:
                arity(name, a, 1, 1);
                want(*a[0], {Type::Collection, Type::BoolList}, f, 0);
                return;
            case Fn::Any: case Fn::All:
                arity(name, a, 1, 1);
                want(*a[0], {Type::BoolList}, f, 0);
                n.type = Type::Bool;
                return;
            case Fn::Sum:
                arity(name, a, 1, 1);
                want(*a[0], {Type::NumberList}, f, 0);
                return;
            case Fn::Select:
                arity(name, a, 2, 2);
                want(*a[1], {Type::Bool}, f, 1);
                n.type = Type::Collection;
                n.source = a[0]->source;
                return;
            case Fn::DR: case Fn::DPhi: case Fn::DEta: case Fn::MT:
                arity(name, a, 2, 2);
                for (std::size_t i = 0; i < 2; ++i) {
                    want(*a[i], {Type::Object}, f, i);
                    need_p4(*a[i]);
                }
                return;
            case Fn::MT2:
                arity(name, a, 3, 4);
                for (std::size_t i = 0; i < 3; ++i) {
                    want(*a[i], {Type::Object}, f, i);
                    need_p4(*a[i]);
                }
                if (a.size() == 4) want(*a[3], {Type::Number}, f, 3);
                return;
            case Fn::M: case Fn::VPt:
                arity(name, a, 1, 64);
                for (std::size_t i = 0; i < a.size(); ++i) {
                    want(*a[i], {Type::Object, Type::Collection}, f, i);
                    need_p4(*a[i]);
                }
                return;
            case Fn::HT: case Fn::MetOverSqrtHT: case Fn::Aplanarity: case Fn::Sphericity:
                arity(name, a, 1, 1);
                want(*a[0], {Type::Collection}, f, 0);
                need_p4(*a[0]);
                if (n.fn == Fn::MetOverSqrtHT) need_met(name);
                return;
            case Fn::Meff:
                arity(name, a, 1, 2);
                want(*a[0], {Type::Collection}, f, 0);
                need_p4(*a[0]);
                if (a.size() == 2) want(*a[1], {Type::Number}, f, 1);
                need_met(name);
                return;
            case Fn::MinDPhi:
                arity(name, a, 2, 3);
                want(*a[0], {Type::Collection}, f, 0);
                want(*a[1], {Type::Object}, f, 1);
                need_p4(*a[0]);
                need_p4(*a[1]);
                if (a.size() == 3) want(*a[2], {Type::Number}, f, 2);
                return;
            case Fn::MaxPtMass:
                arity(name, a, 2, 16);
                want(*a[0], {Type::Collection}, f, 0);
                need_p4(*a[0]);
                want(*a[1], {Type::Number}, f, 1);
                for (std::size_t i = 2; i < a.size(); ++i) {
                    want(*a[i], {Type::Object}, f, i);
                    need_p4(*a[i]);
                }
                return;
            case Fn::MinMaxMass:
                arity(name, a, 1, 1);
                want(*a[0], {Type::Collection}, f, 0);
                need_p4(*a[0]);
                return;
            case Fn::MinMaxPairMass:
                arity(name, a, 3, 3);
                for (std::size_t i = 0; i < 2; ++i) {
                    want(*a[i], {Type::Object}, f, i);
                    need_p4(*a[i]);
                }
                want(*a[2], {Type::Collection}, f, 2);
                need_p4(*a[2]);
                return;
            case Fn::MinDR:
                arity(name, a, 2, 2);
                for (std::size_t i = 0; i < 2; ++i) {
                    want(*a[i], {Type::Object, Type::Collection}, f, i);
                    need_p4(*a[i]);
                }
                return;
            case Fn::If:
                arity(name, a, 3, 3);
                want(*a[0], {Type::Bool}, f, 0);
                want(*a[1], {Type::Number, Type::Bool}, f, 1);
                if (a[2]->type != a[1]->type)
                    fail(*a[2], std::string("both branches of if(...) must have one type: ") + type_name(a[1]->type) +
                                    " vs " + type_name(a[2]->type));
                n.type = a[1]->type;
                return;
        }
    }

    void need_met(const Token& name) const {
        auto it = schema_.records.find("met");
        if (it == schema_.records.end() || std::find(it->second.begin(), it->second.end(), "pt") == it->second.end())
            fail(name, name.text + "(...) needs the record 'met' with field 'pt'");
    }
};

// ------------------------------------------------------------------------------------------------
// evaluation
// ------------------------------------------------------------------------------------------------
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Kin {
    double pt, eta, phi, m;
};

Kin kin_of(const Value& v) {
    if (v.rec) {
        const auto& r = *v.rec;
        const int ipt = r.field("pt"), iphi = r.field("phi");
        const auto e = static_cast<std::size_t>(v.obj);
        return {r.fields[static_cast<std::size_t>(ipt)][e], 0.0, r.fields[static_cast<std::size_t>(iphi)][e], 0.0};
    }
    const auto& c = *v.coll;
    const int ipt = c.field("pt"), ieta = c.field("eta"), iphi = c.field("phi"), im = c.field("mass");
    const auto i = static_cast<std::size_t>(v.obj);
    return {c.fields[static_cast<std::size_t>(ipt)][i], ieta >= 0 ? c.fields[static_cast<std::size_t>(ieta)][i] : 0.0,
            c.fields[static_cast<std::size_t>(iphi)][i], im >= 0 ? c.fields[static_cast<std::size_t>(im)][i] : 0.0};
}

double apply(Op op, double a, double b, bool& missing) {
    switch (op) {
        case Op::Add: return a + b;
        case Op::Sub: return a - b;
        case Op::Mul: return a * b;
        case Op::Div:
            if (b == 0) missing = true;
            return b == 0 ? kNaN : a / b;
        case Op::Mod:  // floored (Python) modulo: the sign of the divisor
            if (b == 0) missing = true;
            return b == 0 ? kNaN : a - b * std::floor(a / b);
        case Op::Pow: return std::pow(a, b);
        case Op::Lt: return a < b;
        case Op::Le: return a <= b;
        case Op::Gt: return a > b;
        case Op::Ge: return a >= b;
        case Op::Eq: return a == b;
        case Op::Ne: return a != b;
    }
    return kNaN;
}

double math(Fn f, double x, bool& missing) {
    double r = kNaN;
    switch (f) {
        case Fn::Abs: r = std::fabs(x); break;
        case Fn::Sqrt: r = x < 0 ? kNaN : std::sqrt(x); break;
        case Fn::Exp: r = std::exp(x); break;
        case Fn::Log: r = x <= 0 ? kNaN : std::log(x); break;
        case Fn::Sin: r = std::sin(x); break;
        case Fn::Cos: r = std::cos(x); break;
        case Fn::Tan: r = std::tan(x); break;
        case Fn::Sinh: r = std::sinh(x); break;
        case Fn::Cosh: r = std::cosh(x); break;
        case Fn::Tanh: r = std::tanh(x); break;
        default: break;
    }
    if (std::isnan(r)) missing = true;
    return r;
}

/// A run-time error at node `n` (position relative to the expression text; made a file
/// position by Expression::evaluate).
struct Failure : std::runtime_error {
    Failure(const Node& n, const std::string& msg) : std::runtime_error(msg), line(n.line), col(n.col) {}
    int line, col;
};

[[noreturn]] void runtime_fail(const Node& n, const std::string& msg) { throw Failure(n, msg); }

Value eval(const Node& n, EventContext& ctx);

/// Momenta of an object or collection value appended to `sum`.
void add_p4(const Value& v, fn::P4& sum, bool& missing) {
    if (v.type == Type::Object) {
        if (v.missing) {
            missing = true;
            return;
        }
        const Kin k = kin_of(v);
        sum += fn::P4::from_pt_eta_phi_m(k.pt, k.eta, k.phi, k.m);
        return;
    }
    for (auto i : v.idx) {
        Value o;
        o.type = Type::Object, o.coll = v.coll, o.obj = i;
        const Kin k = kin_of(o);
        sum += fn::P4::from_pt_eta_phi_m(k.pt, k.eta, k.phi, k.m);
    }
}

Value object_of(const Value& coll, std::int64_t i) {
    Value o;
    o.type = Type::Object;
    o.coll = coll.coll;
    o.obj = coll.idx[static_cast<std::size_t>(i)];
    return o;
}

const RecordColumns* find_record(const EventContext& ctx, const std::string& name) {
    if (ctx.records) {
        auto it = ctx.records->find(name);
        return it == ctx.records->end() ? nullptr : it->second;
    }
    auto it = ctx.table->records.find(name);
    return it == ctx.table->records.end() ? nullptr : &it->second;
}

Value met_value(EventContext& ctx) {
    Value m;
    m.type = Type::Object;
    m.rec = find_record(ctx, "met");
    m.obj = static_cast<std::int64_t>(ctx.event);
    return m;
}

Value call(const Node& n, EventContext& ctx) {
    auto arg = [&](std::size_t i) { return eval(*n.kids[i], ctx); };
    switch (n.fn) {
        case Fn::Abs: case Fn::Sqrt: case Fn::Exp: case Fn::Log: case Fn::Sin: case Fn::Cos: case Fn::Tan: case Fn::Sinh: case Fn::Cosh: case Fn::Tanh: {
            Value a = arg(0);
            if (a.type == Type::Number) {
                if (a.missing) return a;
                bool miss = false;
                const double r = math(n.fn, a.x, miss);
                return miss ? Value::none(Type::Number) : Value::number(r);
            }
            for (std::size_t i = 0; i < a.list.size(); ++i) {
                bool miss = false;
                a.list[i] = math(n.fn, a.list[i], miss);
                if (miss) {
                    a.list_missing.resize(a.list.size(), 0);
                    a.list_missing[i] = 1;
                }
            }
            return a;
        }
        case Fn::Atan2: case Fn::Pow: {
            const Value a = arg(0), b = arg(1);
            if (a.missing || b.missing) return Value::none(Type::Number);
            return Value::number(n.fn == Fn::Atan2 ? std::atan2(a.x, b.x) : std::pow(a.x, b.x));
        }
        case Fn::Min: case Fn::Max: {
            const bool is_min = n.fn == Fn::Min;
            double best = is_min ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
            bool any = false;
            auto consider = [&](double x) {
                best = is_min ? std::min(best, x) : std::max(best, x);
                any = true;
            };
            if (n.kids.size() == 1) {
                const Value l = arg(0);
                for (std::size_t i = 0; i < l.list.size(); ++i) {
                    if (!l.list_missing.empty() && l.list_missing[i]) return Value::none(Type::Number);
                    consider(l.list[i]);
                }
            } else {
                for (std::size_t i = 0; i < n.kids.size(); ++i) {
                    const Value v = arg(i);
                    if (v.missing) return Value::none(Type::Number);
                    consider(v.x);
                }
            }
            return any ? Value::number(best) : Value::none(Type::Number);
        }
        case Fn::Count: {
            const Value a = arg(0);
            if (a.type == Type::Collection) return Value::number(static_cast<double>(a.idx.size()));
            double c = 0;
            for (std::size_t i = 0; i < a.list.size(); ++i)
                if (a.list[i] != 0 && (a.list_missing.empty() || !a.list_missing[i])) ++c;
            return Value::number(c);
        }
        case Fn::Any: case Fn::All: {
            const Value a = arg(0);
            bool miss = false;
            for (std::size_t i = 0; i < a.list.size(); ++i) {
                if (!a.list_missing.empty() && a.list_missing[i]) {
                    miss = true;
                    continue;
                }
                if (n.fn == Fn::Any && a.list[i] != 0) return Value::boolean(true);
                if (n.fn == Fn::All && a.list[i] == 0) return Value::boolean(false);
            }
            return miss ? Value::none(Type::Bool) : Value::boolean(n.fn == Fn::All);
        }
        case Fn::Sum: {
            const Value a = arg(0);
            double s = 0;
            for (std::size_t i = 0; i < a.list.size(); ++i) {
                if (!a.list_missing.empty() && a.list_missing[i]) return Value::none(Type::Number);
                s += a.list[i];
            }
            return Value::number(s);
        }
        case Fn::Select: {
            Value c = arg(0);
            std::vector<std::int64_t> kept;
            for (std::size_t i = 0; i < c.idx.size(); ++i) {
                ctx.scope.push_back(object_of(c, static_cast<std::int64_t>(i)));
                const Value p = eval(*n.kids[1], ctx);
                ctx.scope.pop_back();
                if (!p.missing && p.x != 0) kept.push_back(c.idx[i]);
            }
            c.idx = std::move(kept);
            return c;
        }
        case Fn::DR: case Fn::DPhi: case Fn::DEta: case Fn::MT: {
            const Value a = arg(0), b = arg(1);
            if (a.missing || b.missing) return Value::none(Type::Number);
            const Kin x = kin_of(a), y = kin_of(b);
            switch (n.fn) {
                case Fn::DR: return Value::number(fn::delta_r(x.eta, x.phi, y.eta, y.phi));
                case Fn::DPhi: return Value::number(fn::delta_phi(x.phi, y.phi));
                case Fn::DEta: return Value::number(std::fabs(x.eta - y.eta));
                default: return Value::number(fn::mt(x.pt, x.phi, x.m, y.pt, y.phi, y.m));
            }
        }
        case Fn::MT2: {
            const Value a = arg(0), b = arg(1), m = arg(2);
            double chi = 0;
            if (n.kids.size() == 4) {
                const Value c = arg(3);
                if (c.missing) return Value::none(Type::Number);
                chi = c.x;
            }
            if (a.missing || b.missing || m.missing) return Value::none(Type::Number);
            const Kin x = kin_of(a), y = kin_of(b), z = kin_of(m);
            const double r = fn::mt2(x.m, x.pt * std::cos(x.phi), x.pt * std::sin(x.phi), y.m, y.pt * std::cos(y.phi),
                                     y.pt * std::sin(y.phi), z.pt * std::cos(z.phi), z.pt * std::sin(z.phi), chi, chi);
            return r < 0 ? Value::none(Type::Number) : Value::number(r);
        }
        case Fn::M: case Fn::VPt: {
            fn::P4 sum;
            bool miss = false;
            for (std::size_t i = 0; i < n.kids.size(); ++i) add_p4(arg(i), sum, miss);
            if (miss) return Value::none(Type::Number);
            return Value::number(n.fn == Fn::M ? sum.m() : sum.pt());
        }
        case Fn::HT: case Fn::Meff: case Fn::MetOverSqrtHT: {
            const Value c = arg(0);
            std::size_t limit = c.idx.size();
            if (n.kids.size() == 2) {
                const Value l = arg(1);
                if (l.missing || l.x < 0) return Value::none(Type::Number);
                limit = std::min(limit, static_cast<std::size_t>(l.x));
            }
            double ht = 0;
            for (std::size_t i = 0; i < limit; ++i) ht += kin_of(object_of(c, static_cast<std::int64_t>(i))).pt;
            if (n.fn == Fn::HT) return Value::number(ht);
            const double met = kin_of(met_value(ctx)).pt;
            if (n.fn == Fn::Meff) return Value::number(ht + met);
            return ht > 0 ? Value::number(met / std::sqrt(ht)) : Value::none(Type::Number);
        }
        case Fn::Aplanarity: case Fn::Sphericity: {
            const Value c = arg(0);
            std::vector<double> px, py, pz;
            for (std::size_t i = 0; i < c.idx.size(); ++i) {
                const Kin k = kin_of(object_of(c, static_cast<std::int64_t>(i)));
                px.push_back(k.pt * std::cos(k.phi));
                py.push_back(k.pt * std::sin(k.phi));
                pz.push_back(k.pt * std::sinh(k.eta));
            }
            const auto s = fn::event_shape(px.data(), py.data(), pz.data(), px.size());
            return Value::number(n.fn == Fn::Aplanarity ? s.aplanarity : s.sphericity);
        }
        case Fn::MinDPhi: {
            const Value c = arg(0), o = arg(1);
            std::size_t limit = c.idx.size();
            if (n.kids.size() == 3) {
                const Value l = arg(2);
                if (l.missing || l.x < 0) return Value::none(Type::Number);
                limit = std::min(limit, static_cast<std::size_t>(l.x));
            }
            if (o.missing || limit == 0) return Value::none(Type::Number);
            const double phi = kin_of(o).phi;
            double best = std::numeric_limits<double>::infinity();
            for (std::size_t i = 0; i < limit; ++i)
                best = std::min(best, fn::delta_phi(kin_of(object_of(c, static_cast<std::int64_t>(i))).phi, phi));
            return Value::number(best);
        }
        case Fn::If: {
            const Value c = arg(0);
            if (c.missing) return Value::none(n.type);
            return c.x != 0 ? arg(1) : arg(2);
        }
        case Fn::MaxPtMass: {
            const Value c = arg(0), kv = arg(1);
            if (kv.missing || kv.x < 1 || kv.x != std::floor(kv.x)) return Value::none(Type::Number);
            const auto k = static_cast<std::size_t>(kv.x);
            fn::P4 extra;
            bool miss = false;
            for (std::size_t i = 2; i < n.kids.size(); ++i) add_p4(arg(i), extra, miss);
            if (miss || c.idx.size() < k) return Value::none(Type::Number);
            std::vector<fn::P4> p;
            for (std::size_t i = 0; i < c.idx.size(); ++i) {
                const Kin q = kin_of(object_of(c, static_cast<std::int64_t>(i)));
                p.push_back(fn::P4::from_pt_eta_phi_m(q.pt, q.eta, q.phi, q.m));
            }
            std::vector<std::size_t> pick(k);
            for (std::size_t i = 0; i < k; ++i) pick[i] = i;
            double best_pt = -1, best_m = 0;
            for (;;) {
                fn::P4 sum = extra;
                for (auto i : pick) sum += p[i];
                if (sum.pt() > best_pt) best_pt = sum.pt(), best_m = sum.m();
                // next combination in lexicographic order
                std::size_t i = k;
                while (i > 0 && pick[i - 1] == p.size() - k + i - 1) --i;
                if (i == 0) break;
                ++pick[i - 1];
                for (std::size_t j = i; j < k; ++j) pick[j] = pick[j - 1] + 1;
            }
            return Value::number(best_m);
        }
        case Fn::MinMaxMass: {
            const Value c = arg(0);
            const std::size_t m = c.idx.size();
            if (m > 16) runtime_fail(n, "minmax_mass of " + std::to_string(m) + " objects (at most 16)");
            std::vector<fn::P4> p;
            for (std::size_t i = 0; i < m; ++i) {
                const Kin q = kin_of(object_of(c, static_cast<std::int64_t>(i)));
                p.push_back(fn::P4::from_pt_eta_phi_m(q.pt, q.eta, q.phi, q.m));
            }
            double best = std::numeric_limits<double>::infinity();
            for (std::uint32_t mask = 0; mask < (1u << m); ++mask) {
                fn::P4 a, b;
                for (std::size_t i = 0; i < m; ++i) ((mask >> i) & 1u ? a : b) += p[i];
                best = std::min(best, std::max(a.m(), b.m()));
            }
            return Value::number(best);
        }
        case Fn::MinMaxPairMass: {
            const Value a = arg(0), b = arg(1), c = arg(2);
            if (a.missing || b.missing || c.idx.size() < 2) return Value::none(Type::Number);
            const Kin ka = kin_of(a), kb = kin_of(b);
            const auto pa = fn::P4::from_pt_eta_phi_m(ka.pt, ka.eta, ka.phi, ka.m);
            const auto pb = fn::P4::from_pt_eta_phi_m(kb.pt, kb.eta, kb.phi, kb.m);
            std::vector<fn::P4> pc;
            for (std::size_t i = 0; i < c.idx.size(); ++i) {
                const Kin q = kin_of(object_of(c, static_cast<std::int64_t>(i)));
                pc.push_back(fn::P4::from_pt_eta_phi_m(q.pt, q.eta, q.phi, q.m));
            }
            double best = std::numeric_limits<double>::infinity();
            for (std::size_t i = 0; i < pc.size(); ++i)
                for (std::size_t k = 0; k < pc.size(); ++k) {
                    if (i == k) continue;
                    fn::P4 x = pa, y = pb;
                    x += pc[i];
                    y += pc[k];
                    best = std::min(best, std::max(x.m(), y.m()));
                }
            return Value::number(best);
        }
        case Fn::MinDR: {
            const Value a = arg(0), b = arg(1);
            auto kins = [&](const Value& v) {
                std::vector<Kin> out;
                if (v.type == Type::Object) {
                    if (!v.missing) out.push_back(kin_of(v));
                } else {
                    for (std::size_t i = 0; i < v.idx.size(); ++i) out.push_back(kin_of(object_of(v, static_cast<std::int64_t>(i))));
                }
                return out;
            };
            double best = std::numeric_limits<double>::infinity();
            for (const Kin& x : kins(a))
                for (const Kin& y : kins(b)) best = std::min(best, fn::delta_r(x.eta, x.phi, y.eta, y.phi));
            return std::isinf(best) ? Value::none(Type::Number) : Value::number(best);
        }
    }
    runtime_fail(n, "unknown function");
}

/// The nodes of a chain from `top` down its left operands (see chain_edge), bottom first; no
/// allocation for the usual short chains.
class Spine {
public:
    explicit Spine(const Node& top) {
        const Node* n = &top;
        for (;;) {
            if (size_ < kInline) inline_[size_] = n;
            else more_.push_back(n);
            ++size_;
            const Node& left = *n->kids[0];
            if (!chain_edge(*n, left)) break;
            n = &left;
        }
    }
    std::size_t size() const noexcept { return size_; }
    /// i = 0 is the bottom (the node whose left operand starts the chain), size() - 1 the top.
    const Node& operator[](std::size_t i) const noexcept {
        const std::size_t k = size_ - 1 - i;
        return k < kInline ? *inline_[k] : *more_[k - kInline];
    }

private:
    static constexpr std::size_t kInline = 16;
    const Node* inline_[kInline] = {};
    std::vector<const Node*> more_;
    std::size_t size_ = 0;
};

Value combine(const Node& n, const Value& a, const Value& b);

/// Evaluates a chain of binary operators iteratively: (((x op1 y) op2 z) ...).
Value binary(const Node& top, EventContext& ctx) {
    const Spine spine(top);
    Value acc = eval(*spine[0].kids[0], ctx);
    for (std::size_t i = 0; i < spine.size(); ++i) {
        const Value b = eval(*spine[i].kids[1], ctx);
        acc = combine(spine[i], acc, b);
    }
    return acc;
}

/// `and`/`or` chains likewise, with the short circuit of each operator.
Value logical(const Node& top, EventContext& ctx) {
    const Spine spine(top);
    Value acc = eval(*spine[0].kids[0], ctx);
    for (std::size_t i = 0; i < spine.size(); ++i) {
        const bool is_and = spine[i].k == Node::K::And;
        if (!acc.missing && (acc.x != 0) != is_and) {  // short circuit
            acc = Value::boolean(!is_and);
            continue;
        }
        const Value b = eval(*spine[i].kids[1], ctx);
        if (!b.missing && (b.x != 0) != is_and) acc = Value::boolean(!is_and);
        else if (acc.missing || b.missing) acc = Value::none(Type::Bool);
        else acc = Value::boolean(is_and);
    }
    return acc;
}

Value combine(const Node& n, const Value& a, const Value& b) {
    const bool la = a.type == Type::NumberList || a.type == Type::BoolList;
    const bool lb = b.type == Type::NumberList || b.type == Type::BoolList;
    if (!la && !lb) {
        if (a.missing || b.missing) return Value::none(n.type);
        bool miss = false;
        const double r = apply(n.op, a.x, b.x, miss);
        Value v = miss ? Value::none(n.type) : Value::number(r);
        v.type = n.type;
        return v;
    }
    const std::size_t len = la ? a.list.size() : b.list.size();
    if (la && lb && a.list.size() != b.list.size())
        runtime_fail(n, "lists of different lengths (" + std::to_string(a.list.size()) + " and " +
                            std::to_string(b.list.size()) + ")");
    Value out;
    out.type = n.type;
    out.list.resize(len);
    for (std::size_t i = 0; i < len; ++i) {
        const double x = la ? a.list[i] : a.x, y = lb ? b.list[i] : b.x;
        bool miss = (la ? (!a.list_missing.empty() && a.list_missing[i]) : a.missing) ||
                    (lb ? (!b.list_missing.empty() && b.list_missing[i]) : b.missing);
        out.list[i] = miss ? kNaN : apply(n.op, x, y, miss);
        if (miss) {
            out.list_missing.resize(len, 0);
            out.list_missing[i] = 1;
        }
    }
    return out;
}

/// Position `i` in a sequence of `len` (negative counts from the end), or -1 if it is missing,
/// not an integer or out of range.
std::int64_t resolve_index(const Value& i, std::int64_t len) {
    if (i.missing || i.x != std::floor(i.x)) return -1;
    auto k = static_cast<std::int64_t>(i.x);
    if (k < 0) k += len;
    return k < 0 || k >= len ? -1 : k;
}

Value eval(const Node& n, EventContext& ctx) {
    switch (n.k) {
        case Node::K::Number: return Value::number(n.num);
        case Node::K::Bool: return Value::boolean(n.num != 0);
        case Node::K::Variable: {
            const double x = ctx.variables[n.slot];
            Value v = std::isnan(x) ? Value::none(n.type) : Value::number(x);
            v.type = n.type;
            return v;
        }
        case Node::K::Collection: {
            auto it = ctx.collections->find(n.name);
            if (it == ctx.collections->end()) runtime_fail(n, "collection '" + n.name + "' is not in the input");
            Value v;
            v.type = Type::Collection;
            v.coll = it->second;
            const auto b = v.coll->offsets[ctx.event], e = v.coll->offsets[ctx.event + 1];
            v.idx.resize(static_cast<std::size_t>(e - b));
            for (auto i = b; i < e; ++i) v.idx[static_cast<std::size_t>(i - b)] = i;
            return v;
        }
        case Node::K::Record: {
            const RecordColumns* rec = find_record(ctx, n.name);
            if (!rec) runtime_fail(n, "record '" + n.name + "' is not in the input");
            Value v;
            v.type = Type::Object;
            v.rec = rec;
            v.obj = static_cast<std::int64_t>(ctx.event);
            return v;
        }
        case Node::K::This: return ctx.scope[static_cast<std::size_t>(n.slot)];
        case Node::K::Field: {
            const Value o = eval(*n.kids[0], ctx);
            const auto f = static_cast<std::size_t>(n.slot);
            if (o.type == Type::Object) {
                if (o.missing) return Value::none(n.type);
                Value v = Value::number(o.rec ? o.rec->fields[f][static_cast<std::size_t>(o.obj)]
                                              : o.coll->fields[f][static_cast<std::size_t>(o.obj)]);
                v.type = n.type;
                return v;
            }
            Value l;
            l.type = n.type;
            l.list.reserve(o.idx.size());
            for (auto i : o.idx) l.list.push_back(o.coll->fields[f][static_cast<std::size_t>(i)]);
            return l;
        }
        case Node::K::Index: {
            if (n.kids[0]->k == Node::K::Collection) {  // fast path: `jets[3]` without listing the jets
                const Node& cn = *n.kids[0];
                auto it = ctx.collections->find(cn.name);
                if (it == ctx.collections->end()) runtime_fail(cn, "collection '" + cn.name + "' is not in the input");
                const auto b = it->second->offsets[ctx.event], e = it->second->offsets[ctx.event + 1];
                const std::int64_t k = resolve_index(eval(*n.kids[1], ctx), e - b);
                if (k < 0) return Value::none(n.type);
                Value o;
                o.type = Type::Object;
                o.coll = it->second;
                o.obj = b + k;
                return o;
            }
            Value c = eval(*n.kids[0], ctx);
            const std::size_t len = c.type == Type::Collection ? c.idx.size() : c.list.size();
            const std::int64_t k = resolve_index(eval(*n.kids[1], ctx), static_cast<std::int64_t>(len));
            if (k < 0) return Value::none(n.type);
            if (c.type == Type::Collection) return object_of(c, k);
            const auto u = static_cast<std::size_t>(k);
            if (!c.list_missing.empty() && c.list_missing[u]) return Value::none(n.type);
            Value v = Value::number(c.list[u]);
            v.type = n.type;
            return v;
        }
        case Node::K::Slice: {
            Value c = eval(*n.kids[0], ctx);
            const auto len = static_cast<std::int64_t>(c.type == Type::Collection ? c.idx.size() : c.list.size());
            std::int64_t lo = 0, hi = len;
            std::size_t k = 1;
            auto bound = [&](std::int64_t& b) {
                const Value v = eval(*n.kids[k++], ctx);
                if (v.missing) return false;
                b = static_cast<std::int64_t>(std::floor(v.x));
                if (b < 0) b += len;
                b = std::clamp<std::int64_t>(b, 0, len);
                return true;
            };
            if (n.has_lo && !bound(lo)) return Value::none(n.type);
            if (n.has_hi && !bound(hi)) return Value::none(n.type);
            hi = std::max(hi, lo);
            if (c.type == Type::Collection) {
                c.idx = std::vector<std::int64_t>(c.idx.begin() + lo, c.idx.begin() + hi);
            } else {
                c.list = std::vector<double>(c.list.begin() + lo, c.list.begin() + hi);
                if (!c.list_missing.empty())
                    c.list_missing = std::vector<std::uint8_t>(c.list_missing.begin() + lo, c.list_missing.begin() + hi);
            }
            return c;
        }
        case Node::K::Neg: {
            Value v = eval(*n.kids[0], ctx);
            v.x = -v.x;
            for (double& x : v.list) x = -x;
            return v;
        }
        case Node::K::Not: {
            Value v = eval(*n.kids[0], ctx);
            v.x = v.x != 0 ? 0.0 : 1.0;
            for (double& x : v.list) x = x != 0 ? 0.0 : 1.0;
            return v;
        }
        case Node::K::Binary: return binary(n, ctx);
        case Node::K::And: case Node::K::Or: return logical(n, ctx);
        case Node::K::Call: return call(n, ctx);
        case Node::K::Custom: {
            std::vector<Value> args;
            args.reserve(n.kids.size());
            for (const auto& k : n.kids) args.push_back(eval(*k, ctx));
            Value r = n.custom->fn(args, ctx);
            if (r.type != n.type) runtime_fail(n, "custom function '" + n.name + "' returned a " + type_name(r.type));
            return r;
        }
    }
    runtime_fail(n, "bad expression node");
}

}  // namespace

Expression::Expression(const std::string& text, const Schema& schema, const std::string& where, int line, int col)
    : text_(text), where_(where), line_(line), col_(col) {
    Parser p(text_, schema, where, line, col);
    root_ = p.parse_all();
}

Expression Expression::predicate(const std::string& text, const Schema& schema, const std::string& collection,
                                 const std::string& where, int line, int col) {
    if (!schema.collections.count(collection))
        throw ConfigError(where, line, col, "unknown collection '" + collection + "'");
    Expression e;
    e.text_ = text;
    e.where_ = where;
    e.line_ = line;
    e.col_ = col;
    Parser p(e.text_, schema, where, line, col);
    p.scopes.push_back(collection);
    e.root_ = p.parse_all();
    if (e.root_->type != Type::Bool)
        throw ConfigError(where, line, col,
                          std::string("an object selection must be a bool, this is a ") + type_name(e.root_->type));
    return e;
}

Expression::~Expression() = default;
Expression::Expression(Expression&&) noexcept = default;
Expression& Expression::operator=(Expression&&) noexcept = default;

Type Expression::type() const noexcept { return root_->type; }
const std::string& Expression::source() const noexcept { return root_->source; }

Value Expression::evaluate(EventContext& ctx) const {
    try {
        return eval(*root_, ctx);
    } catch (const Failure& f) {
        throw EvaluationError(where_, line_ + f.line - 1, f.line == 1 ? col_ + f.col - 1 : f.col, f.what());
    }
}

std::vector<std::string> Expression::references() const {
    std::vector<std::string> out;
    std::vector<const Node*> stack{root_.get()};
    while (!stack.empty()) {
        const Node* n = stack.back();
        stack.pop_back();
        if ((n->k == Node::K::Variable || n->k == Node::K::Collection || n->k == Node::K::Record) &&
            std::find(out.begin(), out.end(), n->name) == out.end())
            out.push_back(n->name);
        if (n->k == Node::K::Call && (n->fn == Fn::Meff || n->fn == Fn::MetOverSqrtHT) &&
            std::find(out.begin(), out.end(), "met") == out.end())
            out.emplace_back("met");
        for (const auto& k : n->kids) stack.push_back(k.get());
    }
    return out;
}

double Expression::scalar(EventContext& ctx) const {
    const Value v = evaluate(ctx);
    return v.missing ? kNaN : v.x;
}

}  // namespace recast::analysis
