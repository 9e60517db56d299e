// The detector-card expression language (shared/specs/detector-emulation.md §13.4): infix float64
// arithmetic + - * /, power ^ (right-associative, binds tighter than unary minus: -2^2 = -4),
// comparisons < <= > >= == != and logical && || ! returning 1.0/0.0, functions
// sqrt exp log tanh abs min max pow, scientific literals; variables pt eta abs_eta phi e et m set
// met. No names of one's own, no assignment, no loops.
//
// Grammar (precedence low -> high), as the reference evaluator shared/specs/tools/expr.py:
//   or := and ('||' and)* ; and := cmp ('&&' cmp)* ; cmp := add (CMP add)? ;
//   add := mul (('+'|'-') mul)* ; mul := unary (('*'|'/') unary)* ;
//   unary := ('-'|'+'|'!') unary | power ; power := atom ('^' unary)? ;
//   atom := NUMBER | VAR | FUNC '(' or (',' or)* ')' | '(' or ')'
// Expressions are compiled once to postfix code and evaluated without allocation.
// Division by zero yields +inf (as the reference) and is counted, so that it can be reported.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace recast::card {

enum class Var : std::uint8_t { pt, eta, abs_eta, phi, e, et, m, set, met };
constexpr std::size_t kNumVars = 9;
/// Variable names in Var order.
const std::array<const char*, kNumVars>& var_names();

/// Values of the variables, indexed by Var.
using Values = std::array<double, kNumVars>;

class Expression {
public:
    /// Compiles `text`; syntax errors throw ConfigError naming `where`, column (1-based) and the
    /// problem, e.g. "atlas_run2.toml electron.efficiency.expr:1:14: unknown variable 'ptt'".
    Expression(std::string text, std::string where = "<expression>");

    double evaluate(const Values& values) const noexcept;
    const std::string& text() const noexcept { return text_; }
    /// Whether the expression reads variable v.
    bool uses(Var v) const noexcept { return (uses_ >> static_cast<unsigned>(v)) & 1u; }
    /// Number of divisions by zero met so far (all threads).
    std::uint64_t divisions_by_zero() const noexcept { return div0_->load(std::memory_order_relaxed); }

    struct Op {
        std::uint8_t code;
        std::uint8_t arg;  // variable index or argument count
        double value;      // constant
    };

private:
    std::string text_;
    std::vector<Op> code_;
    std::uint32_t uses_ = 0;
    std::size_t max_stack_ = 0;
    std::shared_ptr<std::atomic<std::uint64_t>> div0_;
};

}  // namespace recast::card
