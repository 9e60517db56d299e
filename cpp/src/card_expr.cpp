#include "recast/card_expr.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <string>

#include "recast/errors.hpp"

namespace recast::card {

const std::array<const char*, kNumVars>& var_names() {
    static const std::array<const char*, kNumVars> names{"pt", "eta", "abs_eta", "phi", "e", "et", "m", "set", "met"};
    return names;
}

namespace {

enum Code : std::uint8_t {
    kConst, kVar, kNeg, kNot, kAdd, kSub, kMul, kDiv, kPow, kLt, kLe, kGt, kGe, kEq, kNe, kAnd, kOr,
    kSqrt, kExp, kLog, kTanh, kAbs, kMin, kMax, kPowFn,
};

struct Token {
    enum Kind { Num, Name, Op, End } kind;
    std::string_view text;
    double value = 0;
    std::size_t pos = 0;  // 0-based column
};

class Parser {
public:
    Parser(std::string_view s, const std::string& where) : s_(s), where_(where) { tokenize(); }

    std::vector<Expression::Op> parse(std::uint32_t& uses, std::size_t& max_stack) {
        or_();
        if (peek().kind != Token::End) fail(peek(), "unexpected '" + std::string(peek().text) + "' after the expression");
        uses = uses_;
        // stack depth: simulate
        std::size_t depth = 0;
        for (const auto& op : code_) {
            switch (op.code) {
                case kConst:
                case kVar: ++depth; break;
                case kNeg: case kNot: case kSqrt: case kExp: case kLog: case kTanh: case kAbs: break;
                case kMin: case kMax: depth -= op.arg - 1u; break;
                default: --depth; break;
            }
            if (depth > max_stack) max_stack = depth;
        }
        return std::move(code_);
    }

private:
    [[noreturn]] void fail(const Token& t, const std::string& what) const {
        const std::string text = s_.size() <= 200 ? std::string(s_) : std::string(s_.substr(0, 200)) + "...";
        throw ConfigError(where_, 1, static_cast<std::int64_t>(t.pos + 1), what + " in '" + text + "'");
    }

    void tokenize() {
        std::size_t i = 0;
        while (true) {
            while (i < s_.size() && std::isspace(static_cast<unsigned char>(s_[i]))) ++i;
            if (i == s_.size()) break;
            const char c = s_[i];
            Token t{Token::Op, {}, 0, i};
            if (std::isdigit(static_cast<unsigned char>(c)) || (c == '.' && i + 1 < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i + 1])))) {
                std::size_t j = i;
                while (j < s_.size() && std::isdigit(static_cast<unsigned char>(s_[j]))) ++j;
                if (j < s_.size() && s_[j] == '.') {
                    ++j;
                    while (j < s_.size() && std::isdigit(static_cast<unsigned char>(s_[j]))) ++j;
                }
                if (j < s_.size() && (s_[j] == 'e' || s_[j] == 'E')) {
                    std::size_t k = j + 1;
                    if (k < s_.size() && (s_[k] == '+' || s_[k] == '-')) ++k;
                    if (k < s_.size() && std::isdigit(static_cast<unsigned char>(s_[k]))) {
                        while (k < s_.size() && std::isdigit(static_cast<unsigned char>(s_[k]))) ++k;
                        j = k;
                    }
                }
                t.kind = Token::Num;
                t.text = s_.substr(i, j - i);
                auto [p, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), t.value);
                if (ec != std::errc() || p != t.text.data() + t.text.size()) fail(t, "bad number '" + std::string(t.text) + "'");
                i = j;
            } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
                std::size_t j = i;
                while (j < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[j])) || s_[j] == '_')) ++j;
                t.kind = Token::Name;
                t.text = s_.substr(i, j - i);
                i = j;
            } else {
                static constexpr std::string_view two[] = {"<=", ">=", "==", "!=", "&&", "||"};
                std::size_t len = 0;
                for (auto op : two)
                    if (s_.substr(i, 2) == op) len = 2;
                if (len == 0 && std::string_view("+-*/^(),<>!").find(c) != std::string_view::npos) len = 1;
                if (len == 0) fail(t, std::string("unexpected character '") + c + "'");
                t.text = s_.substr(i, len);
                i += len;
            }
            toks_.push_back(t);
        }
        toks_.push_back(Token{Token::End, "end of expression", 0, s_.size()});
    }

    const Token& peek() const { return toks_[k_]; }
    bool is_op(std::string_view op) const { return peek().kind == Token::Op && peek().text == op; }
    const Token& take() { return toks_[k_++]; }
    void emit(std::uint8_t code, std::uint8_t arg = 0, double v = 0) { code_.push_back({code, arg, v}); }

    void or_() {
        and_();
        while (is_op("||")) take(), and_(), emit(kOr);
    }
    void and_() {
        cmp();
        while (is_op("&&")) take(), cmp(), emit(kAnd);
    }
    void cmp() {
        add();
        static constexpr std::pair<std::string_view, std::uint8_t> ops[] = {
            {"<", kLt}, {"<=", kLe}, {">", kGt}, {">=", kGe}, {"==", kEq}, {"!=", kNe}};
        for (auto [text, code] : ops)
            if (is_op(text)) {
                take();
                add();
                emit(code);
                return;
            }
    }
    void add() {
        mul();
        while (is_op("+") || is_op("-")) {
            const bool plus = take().text == "+";
            mul();
            emit(plus ? kAdd : kSub);
        }
    }
    void mul() {
        unary();
        while (is_op("*") || is_op("/")) {
            const bool times = take().text == "*";
            unary();
            emit(times ? kMul : kDiv);
        }
    }
    // Every recursion of the parser (parentheses, function arguments, unary operators, the
    // right operand of ^) passes through here: a depth limit keeps deep nesting from overflowing
    // the stack (no card needs more than a few levels).
    void unary() {
        struct Guard {
            int& d;
            ~Guard() { --d; }
        } guard{++depth_};
        if (depth_ > kMaxDepth)
            fail(peek(), "expression nested too deeply (more than " + std::to_string(kMaxDepth) +
                             " levels of parentheses, unary operators or powers)");
        if (is_op("-") || is_op("+") || is_op("!")) {
            const auto op = take().text;
            unary();
            if (op == "-") emit(kNeg);
            if (op == "!") emit(kNot);
            return;
        }
        power();
    }
    void power() {
        atom();
        if (is_op("^")) {
            take();
            unary();
            emit(kPow);
        }
    }
    void atom() {
        const Token t = take();
        if (t.kind == Token::Num) return emit(kConst, 0, t.value);
        if (t.kind == Token::Name) {
            if (is_op("(")) {
                static constexpr std::pair<std::string_view, std::uint8_t> funcs[] = {
                    {"sqrt", kSqrt}, {"exp", kExp}, {"log", kLog}, {"tanh", kTanh},
                    {"abs", kAbs},   {"min", kMin}, {"max", kMax}, {"pow", kPowFn}};
                std::uint8_t code = 255;
                for (auto [name, c] : funcs)
                    if (t.text == name) code = c;
                if (code == 255) fail(t, "unknown function '" + std::string(t.text) + "'");
                take();
                or_();
                std::size_t n = 1;
                while (is_op(",")) take(), or_(), ++n;
                if (!is_op(")")) fail(peek(), "expected ')' or ',' in the arguments of " + std::string(t.text));
                take();
                const bool variadic = code == kMin || code == kMax;
                const std::size_t want = code == kPowFn ? 2 : 1;
                if (variadic ? n < 1 || n > 255 : n != want)
                    fail(t, std::string(t.text) + " takes " + std::to_string(want) + " argument(s), got " + std::to_string(n));
                return emit(code, static_cast<std::uint8_t>(n));
            }
            const auto& names = var_names();
            for (std::size_t v = 0; v < kNumVars; ++v)
                if (t.text == names[v]) {
                    uses_ |= 1u << v;
                    return emit(kVar, static_cast<std::uint8_t>(v));
                }
            fail(t, "unknown variable '" + std::string(t.text) + "' (known: pt eta abs_eta phi e et m set met)");
        }
        if (t.kind == Token::Op && t.text == "(") {
            or_();
            if (!is_op(")")) fail(peek(), "expected ')'");
            take();
            return;
        }
        fail(t, t.kind == Token::End ? "expression ends early" : "unexpected '" + std::string(t.text) + "'");
    }

    static constexpr int kMaxDepth = 200;
    int depth_ = 0;
    std::string_view s_;
    const std::string& where_;
    std::vector<Token> toks_;
    std::size_t k_ = 0;
    std::vector<Expression::Op> code_;
    std::uint32_t uses_ = 0;
};

}  // namespace

Expression::Expression(std::string text, std::string where)
    : text_(std::move(text)), div0_(std::make_shared<std::atomic<std::uint64_t>>(0)) {
    Parser p(text_, where);
    code_ = p.parse(uses_, max_stack_);
    if (max_stack_ > 64)
        throw ConfigError(where, 1, 0,
                          "expression too deeply nested (more than 64 pending operands) in '" +
                              (text_.size() <= 200 ? text_ : text_.substr(0, 200) + "...") + "'");
}

double Expression::evaluate(const Values& vals) const noexcept {
    double st[64];
    std::size_t n = 0;
    for (const auto& op : code_) {
        switch (op.code) {
            case kConst: st[n++] = op.value; break;
            case kVar: st[n++] = vals[op.arg]; break;
            case kNeg: st[n - 1] = -st[n - 1]; break;
            case kNot: st[n - 1] = st[n - 1] == 0.0 ? 1.0 : 0.0; break;
            case kSqrt: st[n - 1] = std::sqrt(st[n - 1]); break;
            case kExp: st[n - 1] = std::exp(st[n - 1]); break;
            case kLog: st[n - 1] = std::log(st[n - 1]); break;
            case kTanh: st[n - 1] = std::tanh(st[n - 1]); break;
            case kAbs: st[n - 1] = std::fabs(st[n - 1]); break;
            case kMin:
            case kMax: {
                const std::size_t k = op.arg;
                double r = st[n - k];
                for (std::size_t i = n - k + 1; i < n; ++i)
                    r = op.code == kMin ? (st[i] < r ? st[i] : r) : (st[i] > r ? st[i] : r);
                n -= k;
                st[n++] = r;
                break;
            }
            default: {
                const double b = st[--n];
                double& a = st[n - 1];
                switch (op.code) {
                    case kAdd: a = a + b; break;
                    case kSub: a = a - b; break;
                    case kMul: a = a * b; break;
                    case kDiv:
                        if (b == 0.0) {
                            div0_->fetch_add(1, std::memory_order_relaxed);
                            a = std::numeric_limits<double>::infinity();
                        } else {
                            a = a / b;
                        }
                        break;
                    case kPow:
                    case kPowFn: a = std::pow(a, b); break;
                    case kLt: a = a < b; break;
                    case kLe: a = a <= b; break;
                    case kGt: a = a > b; break;
                    case kGe: a = a >= b; break;
                    case kEq: a = a == b; break;
                    case kNe: a = a != b; break;
                    case kAnd: a = (a != 0.0 && b != 0.0) ? 1.0 : 0.0; break;
                    case kOr: a = (a != 0.0 || b != 0.0) ? 1.0 : 0.0; break;
                    default: break;
                }
            }
        }
    }
    return st[0];
}

}  // namespace recast::card
