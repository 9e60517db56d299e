#include "recast/analysis/expression.hpp"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include "expression_internal.hpp"
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
        case Type::Vector: return "vector";
    }
    return "?";
}

// ------------------------------------------------------------------------------------------------
// custom functions
// ------------------------------------------------------------------------------------------------
namespace {

std::mutex g_custom_mutex;
std::map<std::string, std::shared_ptr<const CustomFunction>>& custom_functions() {
    static std::map<std::string, std::shared_ptr<const CustomFunction>> m;
    return m;
}

std::shared_ptr<const CustomFunction> custom_function(const std::string& name) {
    std::lock_guard<std::mutex> lock(g_custom_mutex);
    auto it = custom_functions().find(name);
    return it == custom_functions().end() ? nullptr : it->second;
}

/// Interned collection/record names: run-time lookups by index, resolved once per context.
std::mutex g_names_mutex;
int intern(const std::string& name) {
    static std::unordered_map<std::string, int> ids;
    std::lock_guard<std::mutex> lock(g_names_mutex);
    auto [it, added] = ids.emplace(name, static_cast<int>(ids.size()));
    return it->second;
}

/// The interned id of the record `met` (read implicitly by met-using built-ins).
int met_id() {
    static const int id = intern("met");
    return id;
}

}  // namespace

void register_function(const std::string& name, CustomFunction f) {
    if (find_builtin(name)) throw std::invalid_argument("'" + name + "' is a built-in function");
    if (f.result != Type::Number && f.result != Type::Bool)
        throw std::invalid_argument("custom function '" + name + "' must return a number or a bool");
    if (!f.fn && !f.block) throw std::invalid_argument("custom function '" + name + "' has no implementation");
    if (f.block && !f.fn)
        for (Type t : f.args)
            if (t != Type::Number && t != Type::Bool && t != Type::NumberList && t != Type::BoolList)
                throw std::invalid_argument("vectorised custom function '" + name + "': arguments must be numbers, bools "
                                            "or lists of them, not " + type_name(t));
    std::lock_guard<std::mutex> lock(g_custom_mutex);
    custom_functions()[name] = std::make_shared<const CustomFunction>(std::move(f));
}

bool unregister_function(const std::string& name) {
    std::lock_guard<std::mutex> lock(g_custom_mutex);
    return custom_functions().erase(name) > 0;
}

std::vector<std::pair<std::string, std::string>> custom_functions_list() {
    std::lock_guard<std::mutex> lock(g_custom_mutex);
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [k, f] : custom_functions()) out.emplace_back(k, f->doc);
    return out;
}

std::vector<std::pair<std::string, std::string>> builtins() {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& b : builtin_table()) out.emplace_back(b.name, std::string(b.signature) + ": " + b.doc);
    return out;
}

// ------------------------------------------------------------------------------------------------
// pool: hash-consing of sub-expressions into value slots
// ------------------------------------------------------------------------------------------------
struct ExpressionPool::Impl {
    std::mutex mutex;
    std::unordered_map<std::string, int> ids;
    std::size_t nodes = 0;
};

ExpressionPool::ExpressionPool() : impl(std::make_unique<Impl>()) {}
ExpressionPool::~ExpressionPool() = default;

ExpressionPool::Stats ExpressionPool::stats() const {
    std::lock_guard<std::mutex> lock(impl->mutex);
    Stats s;
    s.nodes = impl->nodes;
    s.slots = impl->ids.size();
    s.shared = s.nodes - s.slots;
    return s;
}

namespace {

/// Chains of left-associative binary operators (`a + b - c < d`, `x and y or z`) are evaluated
/// along their left spine without recursion: an edge from such a node to its left operand of
/// the same family does not count towards the nesting depth.
bool chain_edge(const Node& parent, const Node& left) {
    const auto logical = [](Node::K k) { return k == Node::K::And || k == Node::K::Or; };
    return (parent.k == Node::K::Binary && left.k == Node::K::Binary) || (logical(parent.k) && logical(left.k));
}

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
        resolve_kin(*n);
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
        if ((op == Op::Add || op == Op::Sub) && (l->type == Type::Vector || r->type == Type::Vector)) {
            for (const Node* x : {l.get(), r.get()})
                if (x->type != Type::Vector)
                    fail(*x, std::string("'") + t.text + "' of a vector needs another vector, this is a " +
                                 type_name(x->type) + " (sum4(...) makes a vector of objects)");
            auto n = make(Node::K::Binary, Type::Vector, t);
            n->line = l->line, n->col = l->col;
            n->op = op;
            n->kids.push_back(std::move(l));
            n->kids.push_back(std::move(r));
            return n;
        }
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
            if (!numeric(x->type) && x->type != Type::Vector)
                fail(*x, std::string("unary '-' needs a number or a vector, this is a ") + type_name(x->type));
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
        if (obj->type == Type::Vector) {
            static const char* comps[] = {"pt", "eta", "phi", "m", "px", "py", "pz", "e", "mass"};
            int c = -1;
            for (int i = 0; i < 9; ++i)
                if (name.text == comps[i]) c = i == 8 ? 3 : i;
            if (c < 0) fail(name, "a vector has no component '" + name.text + "'; components: pt, eta, phi, m, px, py, pz, e");
            auto n = make(Node::K::Component, Type::Number, name);
            n->slot = c;
            n->line = obj->line, n->col = obj->col;
            n->kids.push_back(std::move(obj));
            return n;
        }
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
        if (find_builtin(t.text) || custom_function(t.text)) fail(t, "'" + t.text + "' is a function; call it as " + t.text + "(...)");
        fail(t, "unknown name '" + t.text + "'" + suggest(t.text, known_names()));
    }

    void need_p4(const Node& n) const {
        if (n.type == Type::Vector) return;
        const auto* f = fields_of(n);
        for (const char* x : {"pt", "phi"})
            if (!f || std::find(f->begin(), f->end(), x) == f->end())
                fail(n, "'" + n.source + "' has no field '" + x + "' needed for kinematics");
    }

    void need_met(const Token& name) const {
        auto it = schema_.records.find("met");
        if (it == schema_.records.end() || std::find(it->second.begin(), it->second.end(), "pt") == it->second.end())
            fail(name, name.text + "(...) needs the record 'met' with field 'pt'");
    }

    /// Positions of pt, eta, phi, mass on every object/collection node (field look-ups by
    /// position at run time).
    void resolve_kin(Node& root) const {
        std::vector<Node*> stack{&root};
        while (!stack.empty()) {
            Node* n = stack.back();
            stack.pop_back();
            if ((n->type == Type::Object || n->type == Type::Collection) && !n->source.empty()) {
                if (const auto* f = fields_of(*n)) {
                    const char* names[4] = {"pt", "eta", "phi", "mass"};
                    for (int i = 0; i < 4; ++i) {
                        const auto it = std::find(f->begin(), f->end(), names[i]);
                        n->kin[static_cast<std::size_t>(i)] = it == f->end() ? -1 : static_cast<int>(it - f->begin());
                    }
                    if (n->record) n->kin[1] = n->kin[3] = -1;  // records: eta = m = 0
                }
            }
            for (auto& k : n->kids) stack.push_back(k.get());
        }
    }

    class CallChecker final : public Checker {
    public:
        CallChecker(const Parser& p, const Token& name, const std::vector<std::unique_ptr<Node>>& a)
            : p_(p), name_(name), a_(a) {}
        [[noreturn]] void fail(const Node& at, const std::string& msg) const override { p_.fail(at, msg); }
        void arity(std::size_t lo, std::size_t hi) const override {
            if (a_.size() < lo || a_.size() > hi) {
                const std::string want = lo == hi ? std::to_string(lo) : std::to_string(lo) + " to " + std::to_string(hi);
                p_.fail(name_, name_.text + "(...) takes " + want + " argument" + (hi == 1 ? "" : "s") + ", got " +
                                   std::to_string(a_.size()));
            }
        }
        void want(std::size_t i, std::initializer_list<Type> types) const override {
            for (Type t : types)
                if (a_[i]->type == t) return;
            std::string s;
            for (Type t : types) s += (s.empty() ? "" : " or ") + std::string(type_name(t));
            p_.fail(*a_[i], "argument " + std::to_string(i + 1) + " of " + name_.text + " must be a " + s + ", this is a " +
                                type_name(a_[i]->type));
        }
        void need_p4(std::size_t i) const override { p_.need_p4(*a_[i]); }
        void need_met() const override { p_.need_met(name_); }
        const std::string& function() const override { return name_.text; }

    private:
        const Parser& p_;
        const Token& name_;
        const std::vector<std::unique_ptr<Node>>& a_;
    };

    std::unique_ptr<Node> parse_call(const Token& name) {
        take();  // '('
        std::vector<std::unique_ptr<Node>> args;
        const BuiltinDef* b = find_builtin(name.text);
        std::shared_ptr<const CustomFunction> custom = b ? nullptr : custom_function(name.text);
        if (!b && !custom) {
            std::vector<std::string> names;
            for (const auto& x : builtin_table()) names.emplace_back(x.name);
            for (const auto& x : custom_functions_list()) names.push_back(x.first);
            fail(name, "unknown function '" + name.text + "'" + suggest(name.text, names));
        }
        int scope_level = -1;
        if (!at(")")) {
            for (;;) {
                if (b && b->predicate_arg >= 0 && args.size() == static_cast<std::size_t>(b->predicate_arg)) {
                    // the predicate, in the scope of the objects of argument 0
                    if (args[0]->type != Type::Collection) fail(*args[0], std::string(b->name) + "(...) needs a collection first");
                    scope_level = static_cast<int>(scopes.size());
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
        n->builtin = b;
        n->name = name.text;
        n->slot = scope_level;
        n->kids = std::move(args);
        const CallChecker c(*this, name, n->kids);
        b->check(const_cast<CallChecker&>(c), *n);
        return n;
    }
};

// ------------------------------------------------------------------------------------------------
// evaluation
// ------------------------------------------------------------------------------------------------
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

/// Position `i` in a sequence of `len` (negative counts from the end), or -1 if it is missing,
/// not an integer or out of range.
std::int64_t resolve_index(const Value& i, std::int64_t len) {
    if (i.missing || i.x != std::floor(i.x)) return -1;
    auto k = static_cast<std::int64_t>(i.x);
    if (k < 0) k += len;
    return k < 0 || k >= len ? -1 : k;
}

constexpr std::size_t kMaxBatch = 4096;  // events per call of a vectorised custom function

}  // namespace

/// Values of the vectorised custom function of one slot for events [first, first + values.size()).
struct BatchValues {
    std::size_t first = 0;
    std::vector<double> values;
    bool covers(std::size_t e) const noexcept { return e >= first && e < first + values.size(); }
};

/// Per-context state of one pool: value slots (reused across events) and their event stamps.
struct PoolState {
    std::shared_ptr<ExpressionPool> pool;  // kept alive while used
    std::vector<Value> slots;
    std::vector<std::uint64_t> stamp;
    std::uint64_t epoch = 1;
    std::size_t event = static_cast<std::size_t>(-1);
    const double* variables = nullptr;
    std::vector<std::vector<Value>> custom_args;  // per slot (per-event custom functions)
    std::vector<BatchValues> batch;                // per slot (vectorised custom functions)
    std::vector<std::vector<double>> col_values;   // argument columns being gathered
    std::vector<std::vector<std::int64_t>> col_offsets;
    std::vector<ArgColumn> cols;
    std::vector<double> out;

    // columnar evaluation (model inputs): one column per slot for the current block of events
    struct Column {
        std::vector<double> v;
        std::vector<std::uint8_t> err;  // empty: no evaluation failed
    };
    std::vector<Column> columns;
    std::vector<std::uint64_t> col_stamp;
    std::uint64_t col_epoch = 1;
    std::size_t col_first = static_cast<std::size_t>(-1), col_last = 0;
    const double* col_vars = nullptr;

    void grow(std::size_t n) {
        if (slots.size() >= n) return;
        slots.resize(n);
        stamp.resize(n, 0);
        custom_args.resize(n);
        batch.resize(n);
        columns.resize(n);
        col_stamp.resize(n, 0);
    }
    void new_epoch() noexcept { ++epoch; }
};

struct EvalState {
    std::vector<std::unique_ptr<PoolState>> pools;
    const void* collections = nullptr;
    const void* records = nullptr;
    const EventTable* table = nullptr;
    std::vector<const CollectionColumns*> colls;  // by interned name (resolved once per context)
    std::vector<const RecordColumns*> recs;
    const RecordColumns* met_rec = nullptr;
    KinFields met_kin{-1, -1, -1, -1};

    PoolState& pool_state(const std::shared_ptr<ExpressionPool>& pool, std::size_t n_slots) {
        for (auto& p : pools)
            if (p->pool == pool) {
                p->grow(n_slots);
                return *p;
            }
        pools.push_back(std::make_unique<PoolState>());
        pools.back()->pool = pool;
        pools.back()->grow(n_slots);
        return *pools.back();
    }
    void bind(const EventContext& ctx) {
        if (collections == ctx.collections && records == ctx.records && table == ctx.table) return;
        collections = ctx.collections, records = ctx.records, table = ctx.table;
        std::fill(colls.begin(), colls.end(), nullptr);
        std::fill(recs.begin(), recs.end(), nullptr);
        for (auto& p : pools) p->new_epoch();
    }
};

namespace {

class Evaluator;

/// The view of one built-in call on the evaluator.
class CallEval final : public Eval {
public:
    CallEval(Evaluator& e, const Node& n) : e_(e), n_(n) {}
    const Value& arg(std::size_t i) override;
    EventContext& ctx() override;
    void select(const Value& c, std::size_t i, std::vector<std::int64_t>& kept) override;
    Value met() override;

private:
    Evaluator& e_;
    const Node& n_;
};

/// Scratch stack of chain spines (see chain_edge): no allocation per event.
thread_local std::vector<const Node*> t_spine;

class Evaluator {
public:
    Evaluator(EventContext& ctx, EvalState& es, PoolState& ps) : ctx(ctx), es_(es), ps_(ps) {}
    EventContext& ctx;

    const Value& eval(const Node& n) {
        Value& out = ps_.slots[static_cast<std::size_t>(n.id)];
        if (n.cacheable && ps_.stamp[static_cast<std::size_t>(n.id)] == ps_.epoch) return out;
        compute(n, out);
        if (n.cacheable) ps_.stamp[static_cast<std::size_t>(n.id)] = ps_.epoch;
        return out;
    }

    const CollectionColumns* collection(const Node& n) {
        const auto id = static_cast<std::size_t>(n.name_id);
        if (id < es_.colls.size() && es_.colls[id]) return es_.colls[id];
        auto it = ctx.collections->find(n.name);
        if (it == ctx.collections->end()) runtime_fail(n, "collection '" + n.name + "' is not in the input");
        if (es_.colls.size() <= id) es_.colls.resize(id + 1, nullptr);
        return es_.colls[id] = it->second;
    }
    const RecordColumns* record(const Node& n, const std::string& name, int name_id) {
        const auto id = static_cast<std::size_t>(name_id);
        if (id < es_.recs.size() && es_.recs[id]) return es_.recs[id];
        const RecordColumns* rec = nullptr;
        if (ctx.records) {
            auto it = ctx.records->find(name);
            if (it != ctx.records->end()) rec = it->second;
        } else if (ctx.table) {
            auto it = ctx.table->records.find(name);
            if (it != ctx.table->records.end()) rec = &it->second;
        }
        if (!rec) runtime_fail(n, "record '" + name + "' is not in the input");
        if (es_.recs.size() <= id) es_.recs.resize(id + 1, nullptr);
        return es_.recs[id] = rec;
    }

    /// Positions of pt and phi of the record `met` (looked up once per context).
    const int* met_kin(const RecordColumns* rec) {
        if (es_.met_rec != rec) {
            es_.met_rec = rec;
            es_.met_kin = {rec->field("pt"), -1, rec->field("phi"), -1};
        }
        return es_.met_kin.data();
    }

    /// Empties the argument columns of a vectorised custom-function call with `na` arguments
    /// (buffers kept for reuse).
    void reset_columns(std::size_t na) {
        ps_.col_values.resize(std::max(ps_.col_values.size(), na));
        ps_.col_offsets.resize(std::max(ps_.col_offsets.size(), na));
        for (std::size_t i = 0; i < na; ++i) {
            ps_.col_values[i].clear();
            ps_.col_offsets[i].assign(1, 0);
        }
    }

    /// Runs the vectorised custom function `b` once for events [ctx.event, block end).
    void run_block(const Node& b) {
        const std::size_t e0 = ctx.event;
        std::size_t end = ctx.block_end > e0 ? std::min(ctx.block_end, e0 + kMaxBatch) : e0 + 1;
        const std::size_t na = b.kids.size();
        reset_columns(na);
        std::size_t n = 0;
        for (std::size_t e = e0; e < end; ++e) {
            ctx.event = e;
            ps_.new_epoch();
            try {
                for (std::size_t i = 0; i < na; ++i) append_arg(*b.kids[i], i);
            } catch (const std::exception&) {
                if (e == e0) {
                    ctx.event = e0;
                    throw;
                }
                for (std::size_t i = 0; i < na; ++i) {  // stop before it: reported when that event is evaluated
                    ps_.col_offsets[i].resize(n + 1);
                    if (is_list(b.kids[i]->type)) ps_.col_values[i].resize(static_cast<std::size_t>(ps_.col_offsets[i][n]));
                    else ps_.col_values[i].resize(n);
                }
                break;
            }
            ++n;
        }
        ctx.event = e0;
        ps_.new_epoch();
        call_block(b, n);
        auto& bv = ps_.batch[static_cast<std::size_t>(b.id)];
        bv.first = e0;
        bv.values.assign(ps_.out.begin(), ps_.out.begin() + static_cast<std::ptrdiff_t>(n));
    }

    /// The arguments of a built-in's block form (see BuiltinDef::column).
    class BlockArgs final : public ColumnEval {
    public:
        BlockArgs(Evaluator& e, const Node& n, std::size_t first, std::size_t m) : e_(e), n_(n), first_(first), m_(m) {}
        std::size_t first() const override { return first_; }
        std::size_t size() const override { return m_; }
        const CollectionColumns* collection(std::size_t i) override {
            if (i >= n_.kids.size() || n_.kids[i]->k != Node::K::Collection) return nullptr;
            try {
                return e_.collection(*n_.kids[i]);
            } catch (const Failure&) {  // reported by the event-by-event evaluation
                return nullptr;
            }
        }
        const double* met_pt() override {
            try {
                const RecordColumns* rec = e_.record(n_, "met", met_id());
                const int f = e_.met_kin(rec)[0];
                return f < 0 ? nullptr : rec->fields[static_cast<std::size_t>(f)].data() + first_;
            } catch (const Failure&) {
                return nullptr;
            }
        }

    private:
        Evaluator& e_;
        const Node& n_;
        std::size_t first_, m_;
    };

    /// Column of a number/bool node over events [first, first + m) (NaN = missing): element-wise
    /// loops for field loads, constants, arithmetic and math functions; other nodes event by event.
    const PoolState::Column& column(const Node& n, std::size_t first, std::size_t m, const double* vars,
                                    std::size_t nv) {
        PoolState::Column& c = ps_.columns[static_cast<std::size_t>(n.id)];
        if (n.cacheable && ps_.col_stamp[static_cast<std::size_t>(n.id)] == ps_.col_epoch) return c;
        c.v.resize(m);
        c.err.clear();
        double* out = c.v.data();
        auto merge_err = [&](const PoolState::Column& k) {
            if (k.err.empty()) return;
            if (c.err.empty()) c.err.assign(m, 0);
            for (std::size_t i = 0; i < m; ++i) c.err[i] |= k.err[i];
        };
        bool done = true;
        switch (n.k) {
            case Node::K::Number: std::fill(out, out + m, n.num); break;
            case Node::K::Variable:
                if (!vars) {
                    done = false;
                    break;
                }
                for (std::size_t i = 0; i < m; ++i) out[i] = vars[(first + i) * nv + static_cast<std::size_t>(n.slot)];
                break;
            case Node::K::Field: {
                const Node& o = *n.kids[0];
                const auto f = static_cast<std::size_t>(n.slot);
                if (o.k == Node::K::Record) {
                    const double* col = record(o, o.name, o.name_id)->fields[f].data() + first;
                    std::copy(col, col + m, out);
                } else if (o.k == Node::K::Index && o.kids[0]->k == Node::K::Collection &&
                           o.kids[1]->k == Node::K::Number && o.kids[1]->num == std::floor(o.kids[1]->num)) {
                    const CollectionColumns* cc = collection(*o.kids[0]);
                    const double* col = cc->fields[f].data();
                    const std::int64_t* off = cc->offsets.data() + first;
                    const auto k = static_cast<std::int64_t>(o.kids[1]->num);
                    for (std::size_t i = 0; i < m; ++i) {
                        const std::int64_t len = off[i + 1] - off[i];
                        const std::int64_t kk = k < 0 ? k + len : k;
                        out[i] = kk >= 0 && kk < len ? col[off[i] + kk] : kNaN;
                    }
                } else {
                    done = false;
                }
                break;
            }
            case Node::K::Binary: {
                if (n.type != Type::Number || n.kids[0]->type != Type::Number || n.kids[1]->type != Type::Number ||
                    n.op == Op::Pow) {
                    done = false;
                    break;
                }
                const PoolState::Column& a = column(*n.kids[0], first, m, vars, nv);
                const PoolState::Column& b = column(*n.kids[1], first, m, vars, nv);
                const double* x = a.v.data();
                const double* y = b.v.data();
                switch (n.op) {
                    case Op::Add: for (std::size_t i = 0; i < m; ++i) out[i] = x[i] + y[i]; break;
                    case Op::Sub: for (std::size_t i = 0; i < m; ++i) out[i] = x[i] - y[i]; break;
                    case Op::Mul: for (std::size_t i = 0; i < m; ++i) out[i] = x[i] * y[i]; break;
                    case Op::Div:  // as apply(): missing for a zero divisor (a missing operand gives NaN)
                        if (n.kids[1]->k == Node::K::Number && n.kids[1]->num != 0) {  // x / 100
                            const double d = n.kids[1]->num;
                            for (std::size_t i = 0; i < m; ++i) out[i] = x[i] / d;
                            break;
                        }
                        for (std::size_t i = 0; i < m; ++i) out[i] = x[i] / y[i];
                        for (std::size_t i = 0; i < m; ++i)
                            if (y[i] == 0) out[i] = kNaN;
                        break;
                    default:
                        for (std::size_t i = 0; i < m; ++i) {
                            bool miss = false;
                            out[i] = std::isnan(x[i]) || std::isnan(y[i]) ? kNaN : apply(n.op, x[i], y[i], miss);
                        }
                }
                merge_err(a);
                merge_err(b);
                break;
            }
            case Node::K::Neg: {
                if (n.type != Type::Number) {
                    done = false;
                    break;
                }
                const PoolState::Column& a = column(*n.kids[0], first, m, vars, nv);
                for (std::size_t i = 0; i < m; ++i) out[i] = -a.v[i];
                merge_err(a);
                break;
            }
            case Node::K::Call: {
                if (n.builtin->scalar && n.type == Type::Number) {
                    const PoolState::Column& a = column(*n.kids[0], first, m, vars, nv);
                    for (std::size_t i = 0; i < m; ++i) out[i] = std::isnan(a.v[i]) ? kNaN : n.builtin->scalar(a.v[i]);
                    merge_err(a);
                } else if (n.builtin->column && n.type == Type::Number) {
                    BlockArgs args(*this, n, first, m);
                    done = n.builtin->column(n, args, out);
                } else {
                    done = false;
                }
                break;
            }
            default: done = false;
        }
        if (!done) {  // event by event
            for (std::size_t i = 0; i < m; ++i) {
                ctx.event = first + i;
                ctx.variables = vars ? vars + (first + i) * nv : nullptr;
                if (ps_.event != ctx.event || ps_.variables != ctx.variables) {
                    ps_.new_epoch();
                    ps_.event = ctx.event;
                    ps_.variables = ctx.variables;
                }
                try {
                    const Value& v = eval(n);
                    out[i] = v.missing ? kNaN : v.x;
                } catch (const std::exception&) {  // reported if and when the event needs this value
                    out[i] = kNaN;
                    if (c.err.empty()) c.err.assign(m, 0);
                    c.err[i] = 1;
                }
            }
        }
        if (n.cacheable) ps_.col_stamp[static_cast<std::size_t>(n.id)] = ps_.col_epoch;
        return c;
    }

private:
    EvalState& es_;
    PoolState& ps_;

    static bool is_list(Type t) { return t == Type::NumberList || t == Type::BoolList; }

    void append_arg(const Node& k, std::size_t i) {
        const Value& v = eval(k);
        auto& vals = ps_.col_values[i];
        if (is_list(k.type)) {
            for (std::size_t j = 0; j < v.list.size(); ++j)
                vals.push_back(!v.list_missing.empty() && v.list_missing[j] ? kNaN : v.list[j]);
            ps_.col_offsets[i].push_back(static_cast<std::int64_t>(vals.size()));
        } else {
            vals.push_back(v.missing ? kNaN : v.x);
        }
    }

    void call_block(const Node& b, std::size_t n) {
        const std::size_t na = b.kids.size();
        ps_.cols.resize(na);
        for (std::size_t i = 0; i < na; ++i) {
            ps_.cols[i].type = b.kids[i]->type;
            ps_.cols[i].values = ps_.col_values[i].data();
            ps_.cols[i].offsets = is_list(b.kids[i]->type) ? ps_.col_offsets[i].data() : nullptr;
        }
        ps_.out.assign(n, kNaN);
        try {
            b.custom->block(ps_.cols, n, ps_.out.data());
        } catch (const Failure&) {
            throw;
        } catch (const std::exception& err) {
            runtime_fail(b, "custom function '" + b.name + "' failed: " + err.what());
        }
    }

    void custom(const Node& n, Value& out) {
        if (!n.custom->fn) {  // vectorised: from the block computed ahead, else this event alone
            auto& bv = ps_.batch[static_cast<std::size_t>(n.id)];
            double x;
            if (!n.scoped && bv.covers(ctx.event)) {
                x = bv.values[ctx.event - bv.first];
            } else {
                const std::size_t na = n.kids.size();
                reset_columns(na);
                for (std::size_t i = 0; i < na; ++i) append_arg(*n.kids[i], i);
                call_block(n, 1);
                x = ps_.out[0];
            }
            if (std::isnan(x)) set_none(out, n.type);
            else set_number(out, n.type == Type::Bool ? (x != 0 ? 1.0 : 0.0) : x, n.type);
            return;
        }
        auto& args = ps_.custom_args[static_cast<std::size_t>(n.id)];
        args.resize(n.kids.size());
        for (std::size_t i = 0; i < n.kids.size(); ++i) args[i] = eval(*n.kids[i]);
        Value r;
        try {
            r = n.custom->fn(args, ctx);
        } catch (const Failure&) {
            throw;
        } catch (const std::exception& err) {
            runtime_fail(n, "custom function '" + n.name + "' failed: " + err.what());
        }
        if (r.type != n.type) runtime_fail(n, "custom function '" + n.name + "' returned a " + type_name(r.type));
        out = std::move(r);
    }

    void combine(const Node& n, const Value& a, const Value& b, Value& out) {
        if (n.type == Type::Vector) {
            if (a.missing || b.missing) return set_none(out, Type::Vector);
            fn::P4 p = p4_of_vector(a);
            if (n.op == Op::Add) p += p4_of_vector(b);
            else p.px -= b.px, p.py -= b.py, p.pz -= b.pz, p.e -= b.e;
            return set_vector(out, p);
        }
        const bool la = is_list(a.type), lb = is_list(b.type);
        if (!la && !lb) {
            if (a.missing || b.missing) return set_none(out, n.type);
            bool miss = false;
            const double r = apply(n.op, a.x, b.x, miss);
            if (miss) set_none(out, n.type);
            else set_number(out, r, n.type);
            return;
        }
        const std::size_t len = la ? a.list.size() : b.list.size();
        if (la && lb && a.list.size() != b.list.size())
            runtime_fail(n, "lists of different lengths (" + std::to_string(a.list.size()) + " and " +
                                std::to_string(b.list.size()) + ")");
        const double ax = a.x, bx = b.x;
        const bool am = a.missing, bm = b.missing;
        out.type = n.type;
        out.missing = false;
        out.list_missing.clear();
        out.list.resize(len);
        for (std::size_t i = 0; i < len; ++i) {
            const double x = la ? a.list[i] : ax, y = lb ? b.list[i] : bx;
            bool miss = (la ? (!a.list_missing.empty() && a.list_missing[i]) : am) ||
                        (lb ? (!b.list_missing.empty() && b.list_missing[i]) : bm);
            out.list[i] = miss ? kNaN : apply(n.op, x, y, miss);
            if (miss) {
                out.list_missing.resize(len, 0);
                out.list_missing[i] = 1;
            }
        }
    }

    /// A chain of binary operators, iteratively: (((x op1 y) op2 z) ...); starts after the
    /// highest link already computed for this event. Every link's value lands in its own slot.
    void binary(const Node& top, Value& out) {
        (void)out;  // == the slot of `top`
        const std::size_t base = t_spine.size();
        const Value* acc = nullptr;
        for (const Node* n = &top;;) {
            t_spine.push_back(n);
            const Node& left = *n->kids[0];
            if (!chain_edge(*n, left)) break;
            if (left.cacheable && ps_.stamp[static_cast<std::size_t>(left.id)] == ps_.epoch) {
                acc = &ps_.slots[static_cast<std::size_t>(left.id)];
                break;
            }
            n = &left;
        }
        if (!acc) acc = &eval(*t_spine.back()->kids[0]);
        for (std::size_t i = t_spine.size(); i-- > base;) {
            const Node& link = *t_spine[i];
            Value& dst = ps_.slots[static_cast<std::size_t>(link.id)];
            const Value& b = eval(*link.kids[1]);
            combine(link, *acc, b, dst);
            if (link.cacheable) ps_.stamp[static_cast<std::size_t>(link.id)] = ps_.epoch;
            acc = &dst;
        }
        t_spine.resize(base);
    }

    /// `and`/`or` chains likewise, with the short circuit of each operator.
    void logical(const Node& top, Value& out) {
        const std::size_t base = t_spine.size();
        for (const Node* n = &top;;) {
            t_spine.push_back(n);
            const Node& left = *n->kids[0];
            if (!chain_edge(*n, left)) break;
            n = &left;
        }
        const Value& first = eval(*t_spine.back()->kids[0]);
        bool miss = first.missing;
        double x = first.x;
        for (std::size_t i = t_spine.size(); i-- > base;) {
            const Node& link = *t_spine[i];
            const bool is_and = link.k == Node::K::And;
            if (!miss && (x != 0) != is_and) {  // short circuit
                x = is_and ? 0.0 : 1.0;
                continue;
            }
            const Value& b = eval(*link.kids[1]);
            if (!b.missing && (b.x != 0) != is_and) miss = false, x = is_and ? 0.0 : 1.0;
            else if (miss || b.missing) miss = true, x = 0.0;
            else x = is_and ? 1.0 : 0.0;
        }
        t_spine.resize(base);
        if (miss) set_none(out, Type::Bool);
        else set_number(out, x, Type::Bool);
    }

    void compute(const Node& n, Value& out) {
        switch (n.k) {
            case Node::K::Number: return set_number(out, n.num);
            case Node::K::Bool: return set_number(out, n.num != 0 ? 1.0 : 0.0, Type::Bool);
            case Node::K::Variable: {
                const double x = ctx.variables[n.slot];
                if (std::isnan(x)) set_none(out, n.type);
                else set_number(out, x, n.type);
                return;
            }
            case Node::K::Collection: {
                const CollectionColumns* c = collection(n);
                out.type = Type::Collection, out.missing = false, out.coll = c, out.rec = nullptr;
                out.kin = n.kin.data();
                const auto b = c->offsets[ctx.event], e = c->offsets[ctx.event + 1];
                out.idx.resize(static_cast<std::size_t>(e - b));
                for (auto i = b; i < e; ++i) out.idx[static_cast<std::size_t>(i - b)] = i;
                return;
            }
            case Node::K::Record: {
                out.type = Type::Object, out.missing = false, out.coll = nullptr;
                out.rec = record(n, n.name, n.name_id);
                out.obj = static_cast<std::int64_t>(ctx.event);
                out.kin = n.kin.data();
                return;
            }
            case Node::K::This: {
                const Value& s = ctx.scope[static_cast<std::size_t>(n.slot)];
                out.type = Type::Object, out.missing = s.missing, out.coll = s.coll, out.rec = s.rec, out.obj = s.obj;
                out.kin = n.kin.data();
                return;
            }
            case Node::K::Field: {
                const Value& o = eval(*n.kids[0]);
                const auto f = static_cast<std::size_t>(n.slot);
                if (o.type == Type::Object) {
                    if (o.missing) return set_none(out, n.type);
                    return set_number(out, o.rec ? o.rec->fields[f][static_cast<std::size_t>(o.obj)]
                                                 : o.coll->fields[f][static_cast<std::size_t>(o.obj)],
                                      n.type);
                }
                out.type = n.type, out.missing = false;
                out.list_missing.clear();
                out.list.resize(o.idx.size());
                const double* col = o.coll ? o.coll->fields[f].data() : nullptr;
                for (std::size_t j = 0; j < o.idx.size(); ++j) out.list[j] = col[static_cast<std::size_t>(o.idx[j])];
                return;
            }
            case Node::K::Index: {
                if (n.kids[0]->k == Node::K::Collection) {  // fast path: `jets[3]` without listing the jets
                    const Node& cn = *n.kids[0];
                    const CollectionColumns* c = collection(cn);
                    const auto b = c->offsets[ctx.event], e = c->offsets[ctx.event + 1];
                    const std::int64_t k = resolve_index(eval(*n.kids[1]), e - b);
                    if (k < 0) return set_none(out, n.type);
                    out.type = Type::Object, out.missing = false, out.coll = c, out.rec = nullptr, out.obj = b + k;
                    out.kin = cn.kin.data();
                    return;
                }
                const Value& c = eval(*n.kids[0]);
                const std::size_t len = c.type == Type::Collection ? c.idx.size() : c.list.size();
                const std::int64_t k = resolve_index(eval(*n.kids[1]), static_cast<std::int64_t>(len));
                if (k < 0) return set_none(out, n.type);
                if (c.type == Type::Collection) return object_of(c, static_cast<std::size_t>(k), out);
                const auto u = static_cast<std::size_t>(k);
                if (!c.list_missing.empty() && c.list_missing[u]) return set_none(out, n.type);
                return set_number(out, c.list[u], n.type);
            }
            case Node::K::Slice: {
                const Value& c = eval(*n.kids[0]);
                const auto len = static_cast<std::int64_t>(c.type == Type::Collection ? c.idx.size() : c.list.size());
                std::int64_t lo = 0, hi = len;
                std::size_t k = 1;
                auto bound = [&](std::int64_t& b) {
                    const Value& v = eval(*n.kids[k++]);
                    if (v.missing) return false;
                    b = static_cast<std::int64_t>(std::floor(v.x));
                    if (b < 0) b += len;
                    b = std::clamp<std::int64_t>(b, 0, len);
                    return true;
                };
                if (n.has_lo && !bound(lo)) return set_none(out, n.type);
                if (n.has_hi && !bound(hi)) return set_none(out, n.type);
                hi = std::max(hi, lo);
                out.type = n.type, out.missing = false;
                if (c.type == Type::Collection) {
                    out.coll = c.coll, out.rec = nullptr, out.kin = c.kin;
                    out.idx.assign(c.idx.begin() + lo, c.idx.begin() + hi);
                } else {
                    out.list.assign(c.list.begin() + lo, c.list.begin() + hi);
                    if (!c.list_missing.empty()) out.list_missing.assign(c.list_missing.begin() + lo, c.list_missing.begin() + hi);
                    else out.list_missing.clear();
                }
                return;
            }
            case Node::K::Neg: case Node::K::Not: {
                const Value& v = eval(*n.kids[0]);
                const bool neg = n.k == Node::K::Neg;
                if (v.type == Type::Vector) {
                    if (v.missing) return set_none(out, Type::Vector);
                    fn::P4 p;
                    p.px = -v.px, p.py = -v.py, p.pz = -v.pz, p.e = -v.e;
                    return set_vector(out, p);
                }
                out.type = v.type, out.missing = v.missing;
                out.x = neg ? -v.x : (v.x != 0 ? 0.0 : 1.0);
                if (is_list(v.type)) {
                    out.list.resize(v.list.size());
                    for (std::size_t j = 0; j < v.list.size(); ++j)
                        out.list[j] = neg ? -v.list[j] : (v.list[j] != 0 ? 0.0 : 1.0);
                    out.list_missing.assign(v.list_missing.begin(), v.list_missing.end());
                }
                return;
            }
            case Node::K::Binary: return binary(n, out);
            case Node::K::And: case Node::K::Or: return logical(n, out);
            case Node::K::Call: {
                CallEval ce(*this, n);
                n.builtin->eval(n, ce, out);
                return;
            }
            case Node::K::Custom: return custom(n, out);
            case Node::K::Component: {
                const Value& v = eval(*n.kids[0]);
                if (v.missing) return set_none(out, Type::Number);
                double x = 0;
                switch (n.slot) {
                    case 0: x = std::hypot(v.px, v.py); break;
                    case 1: x = kin_of(v).eta; break;
                    case 2: x = kin_of(v).phi; break;
                    case 3: x = p4_of_vector(v).m(); break;
                    case 4: x = v.px; break;
                    case 5: x = v.py; break;
                    case 6: x = v.pz; break;
                    default: x = v.e; break;
                }
                return set_number(out, x);
            }
        }
        runtime_fail(n, "bad expression node");
    }
};

const Value& CallEval::arg(std::size_t i) { return e_.eval(*n_.kids[i]); }
EventContext& CallEval::ctx() { return e_.ctx; }
void CallEval::select(const Value& c, std::size_t i, std::vector<std::int64_t>& kept) {
    kept.clear();
    auto& scope = e_.ctx.scope;
    for (std::size_t j = 0; j < c.idx.size(); ++j) {
        scope.emplace_back();
        object_of(c, j, scope.back());
        const Value& p = e_.eval(*n_.kids[i]);
        scope.pop_back();
        if (!p.missing && p.x != 0) kept.push_back(c.idx[j]);
    }
}
Value CallEval::met() {
    Value m;
    m.type = Type::Object;
    m.rec = e_.record(n_, "met", met_id());
    m.obj = static_cast<std::int64_t>(e_.ctx.event);
    m.kin = e_.met_kin(m.rec);
    return m;
}

}  // namespace

// ---- value helpers (expression_internal.hpp) ----------------------------------------------------
Kin kin_of(const Value& v) {
    if (v.type == Type::Vector) {
        const double pt = std::hypot(v.px, v.py);
        const double eta = pt > 0 ? std::asinh(v.pz / pt) : 0.0;
        return {pt, eta, pt > 0 ? std::atan2(v.py, v.px) : 0.0, p4_of_vector(v).m()};
    }
    const auto at = [](const std::vector<std::vector<double>>& f, int k, std::size_t i) {
        return k >= 0 ? f[static_cast<std::size_t>(k)][i] : 0.0;
    };
    if (v.rec) {
        const auto& r = *v.rec;
        const auto e = static_cast<std::size_t>(v.obj);
        if (v.kin) return {at(r.fields, v.kin[0], e), 0.0, at(r.fields, v.kin[2], e), 0.0};
        return {at(r.fields, r.field("pt"), e), 0.0, at(r.fields, r.field("phi"), e), 0.0};
    }
    const auto& c = *v.coll;
    const auto i = static_cast<std::size_t>(v.obj);
    if (v.kin) return {at(c.fields, v.kin[0], i), at(c.fields, v.kin[1], i), at(c.fields, v.kin[2], i), at(c.fields, v.kin[3], i)};
    return {at(c.fields, c.field("pt"), i), at(c.fields, c.field("eta"), i), at(c.fields, c.field("phi"), i),
            at(c.fields, c.field("mass"), i)};
}

fn::P4 p4_of(const Value& v) {
    if (v.type == Type::Vector) return p4_of_vector(v);
    const Kin k = kin_of(v);
    return fn::P4::from_pt_eta_phi_m(k.pt, k.eta, k.phi, k.m);
}

void object_of(const Value& coll, std::size_t i, Value& out) {
    out.type = Type::Object;
    out.missing = false;
    out.coll = coll.coll;
    out.rec = nullptr;
    out.kin = coll.kin;
    out.obj = coll.idx[i];
}

void add_p4(const Value& v, fn::P4& sum, bool& missing) {
    if (v.type == Type::Object || v.type == Type::Vector) {
        if (v.missing) {
            missing = true;
            return;
        }
        sum += p4_of(v);
        return;
    }
    Value o;
    for (std::size_t i = 0; i < v.idx.size(); ++i) {
        object_of(v, i, o);
        sum += p4_of(o);
    }
}

// ------------------------------------------------------------------------------------------------
// compilation
// ------------------------------------------------------------------------------------------------
namespace {

template <class T>
void put(std::string& key, const T& x) {
    key.append(reinterpret_cast<const char*>(&x), sizeof(T));
}

struct CompileInfo {
    int n_slots = 0;
    std::size_t n_nodes = 0;
    std::vector<const Node*> batched;
};

/// Hash-conses the tree into the pool (post-order, without recursion): identical sub-trees get
/// one slot id; marks the scope-dependent nodes and the cacheable ones.
CompileInfo compile_tree(Node& root, ExpressionPool& pool) {
    CompileInfo info;
    std::lock_guard<std::mutex> lock(pool.impl->mutex);
    struct Item {
        Node* n;
        bool done;
    };
    std::vector<Item> stack{{&root, false}};
    std::vector<int> min_depth_of;  // scratch
    std::unordered_map<const Node*, std::pair<int, bool>> info_of;  // min scope depth, uses variables
    std::string key;
    while (!stack.empty()) {
        auto [n, done] = stack.back();
        stack.pop_back();
        if (!done) {
            stack.push_back({n, true});
            for (auto& k : n->kids) stack.push_back({k.get(), false});
            continue;
        }
        int min_depth = INT_MAX;
        bool uses_vars = n->k == Node::K::Variable;
        for (std::size_t i = 0; i < n->kids.size(); ++i) {
            const auto& [d, v] = info_of.at(n->kids[i].get());
            uses_vars = uses_vars || v;
            if (n->k == Node::K::Call && n->builtin && n->builtin->predicate_arg == static_cast<int>(i)) {
                if (d < n->slot) min_depth = std::min(min_depth, d);  // depth n->slot is bound here
            } else {
                min_depth = std::min(min_depth, d);
            }
        }
        if (n->k == Node::K::This) min_depth = n->slot;
        n->scoped = min_depth != INT_MAX;
        n->cacheable = !n->scoped && n->k != Node::K::Number && n->k != Node::K::Bool;
        if (n->k == Node::K::Collection || n->k == Node::K::Record) n->name_id = intern(n->name);
        key.clear();
        put(key, n->k), put(key, n->type), put(key, n->op), put(key, n->num), put(key, n->slot);
        put(key, n->record), put(key, n->has_lo), put(key, n->has_hi), put(key, n->builtin);
        put(key, n->custom.get());
        for (const auto& k : n->kids) put(key, k->id);
        key += n->name;
        key += '\0';
        key += n->source;
        auto [it, added] = pool.impl->ids.emplace(key, static_cast<int>(pool.impl->ids.size()));
        n->id = it->second;
        ++pool.impl->nodes;
        ++info.n_nodes;
        info.n_slots = std::max(info.n_slots, n->id + 1);
        info_of[n] = {min_depth, uses_vars};
        if (n->k == Node::K::Custom && !n->custom->fn && !n->scoped && !uses_vars) info.batched.push_back(n);
    }
    return info;
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// Expression
// ------------------------------------------------------------------------------------------------
Expression::Expression(const std::string& text, const Schema& schema, const std::string& where, int line, int col,
                       std::shared_ptr<ExpressionPool> pool)
    : text_(text), where_(where), line_(line), col_(col) {
    Parser p(text_, schema, where, line, col);
    root_ = p.parse_all();
    compile(std::move(pool));
}

Expression Expression::predicate(const std::string& text, const Schema& schema, const std::string& collection,
                                 const std::string& where, int line, int col, std::shared_ptr<ExpressionPool> pool) {
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
    e.compile(std::move(pool));
    return e;
}

void Expression::compile(std::shared_ptr<ExpressionPool> pool) {
    pool_ = pool ? std::move(pool) : std::make_shared<ExpressionPool>();
    CompileInfo info = compile_tree(*root_, *pool_);
    n_slots_ = info.n_slots;
    n_nodes_ = info.n_nodes;
    batched_ = std::move(info.batched);
}

Expression::~Expression() = default;
Expression::Expression(Expression&&) noexcept = default;
Expression& Expression::operator=(Expression&&) noexcept = default;

Type Expression::type() const noexcept { return root_->type; }
const std::string& Expression::source() const noexcept { return root_->source; }

Value Expression::evaluate(EventContext& ctx) const { return evaluate_ref(ctx); }

const Value& Expression::evaluate_ref(EventContext& ctx) const {
    if (!ctx.state) ctx.state = std::make_shared<EvalState>();
    EvalState& es = *ctx.state;
    es.bind(ctx);
    PoolState& ps = es.pool_state(pool_, static_cast<std::size_t>(n_slots_));
    if (ps.event != ctx.event || ps.variables != ctx.variables) {
        ps.new_epoch();
        ps.event = ctx.event;
        ps.variables = ctx.variables;
    }
    Evaluator ev(ctx, es, ps);
    try {
        for (const Node* b : batched_)
            if (!ps.batch[static_cast<std::size_t>(b->id)].covers(ctx.event)) ev.run_block(*b);
        return ev.eval(*root_);
    } catch (const Failure& f) {
        throw EvaluationError(where_, line_ + f.line - 1, f.line == 1 ? col_ + f.col - 1 : f.col, f.what());
    }
}

void Expression::scalar_block(EventContext& ctx, std::size_t first, std::size_t last, const double* variables,
                              std::size_t n_variables, double* out, std::uint8_t* failed) const {
    if (last <= first) return;
    const BlockView v = scalar_block_view(ctx, first, last, variables, n_variables);
    std::copy(v.values, v.values + (last - first), out);
    if (v.failed) std::copy(v.failed, v.failed + (last - first), failed);
    else std::fill(failed, failed + (last - first), 0);
}

Expression::BlockView Expression::scalar_block_view(EventContext& ctx, std::size_t first, std::size_t last,
                                                    const double* variables, std::size_t n_variables) const {
    if (last < first) last = first;
    if (!ctx.state) ctx.state = std::make_shared<EvalState>();
    EvalState& es = *ctx.state;
    es.bind(ctx);
    PoolState& ps = es.pool_state(pool_, static_cast<std::size_t>(n_slots_));
    if (ps.col_first != first || ps.col_last != last || ps.col_vars != variables) {
        ++ps.col_epoch;
        ps.col_first = first, ps.col_last = last, ps.col_vars = variables;
    }
    const std::size_t m = last - first;
    const bool small = n_nodes_ <= 256;  // the columnar recursion is as deep as the tree
    if (!batched_.empty() || !small) {  // event by event, into the root's column
        PoolState::Column& c = ps.columns[static_cast<std::size_t>(root_->id)];
        c.v.resize(m);
        c.err.clear();
        for (std::size_t i = 0; i < m; ++i) {
            ctx.event = first + i;
            ctx.variables = variables ? variables + (first + i) * n_variables : nullptr;
            try {
                c.v[i] = scalar(ctx);
            } catch (const std::exception&) {
                c.v[i] = kNaN;
                if (c.err.empty()) c.err.assign(m, 0);
                c.err[i] = 1;
            }
        }
        ps.col_stamp[static_cast<std::size_t>(root_->id)] = 0;  // not a cached column value
        return {c.v.data(), c.err.empty() ? nullptr : c.err.data()};
    }
    Evaluator ev(ctx, es, ps);
    const auto& c = ev.column(*root_, first, m, variables, n_variables);
    return {c.v.data(), c.err.empty() ? nullptr : c.err.data()};
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
        if (n->k == Node::K::Call && n->builtin->uses_met && std::find(out.begin(), out.end(), "met") == out.end())
            out.emplace_back("met");
        for (const auto& k : n->kids) stack.push_back(k.get());
    }
    return out;
}

double Expression::scalar(EventContext& ctx) const {
    const Value& v = evaluate_ref(ctx);
    return v.missing ? kNaN : v.x;
}

}  // namespace recast::analysis
