"""Reference solutions for ``eval_tasks.jsonl`` and ``eval_tasks_plain.jsonl``: one top-level function per task.

Each function is named as its task's entry point (entry points are unique across both files).

Each function stands alone (standard library only, imports inside the function, no helpers), so its
source, taken with ``inspect.getsource``, runs as a whole ``solution.py`` in the sandbox.
``tests/test_eval_tasks.py`` checks that every one passes its task's hidden tests and visible examples.
"""

# ---- trivial ----


def add(a, b):
    return a + b


def is_even(n):
    return n % 2 == 0


def reverse_string(s):
    return s[::-1]


def max_of_list(nums):
    best = nums[0]
    for n in nums[1:]:
        if n > best:
            best = n
    return best


def square(n):
    return n * n


def sum_list(nums):
    total = 0
    for n in nums:
        total += n
    return total


def last_element(items):
    return items[-1]


def rectangle_area(width, height):
    return width * height


def to_upper(s):
    return s.upper()


def min_of_three(a, b, c):
    return min(a, b, c)


# ---- easy ----


def count_vowels(s):
    return sum(1 for ch in s.lower() if ch in "aeiou")


def fizzbuzz(n):
    if n % 15 == 0:
        return "FizzBuzz"
    if n % 3 == 0:
        return "Fizz"
    if n % 5 == 0:
        return "Buzz"
    return str(n)


def celsius_to_fahrenheit(c):
    return c * 9 / 5 + 32


def factorial(n):
    result = 1
    for i in range(2, n + 1):
        result *= i
    return result


def is_palindrome(s):
    s = s.lower()
    return s == s[::-1]


def sum_of_digits(n):
    return sum(int(d) for d in str(n))


def clamp(x, low, high):
    if x < low:
        return low
    if x > high:
        return high
    return x


def second_largest(nums):
    return sorted(set(nums))[-2]


def count_words(s):
    return len(s.split())


def is_prime(n):
    if n < 2:
        return False
    i = 2
    while i * i <= n:
        if n % i == 0:
            return False
        i += 1
    return True


def gcd(a, b):
    while b:
        a, b = b, a % b
    return a


def average(nums):
    return sum(nums) / len(nums)


# ---- moderate ----


def run_length_encode(s):
    out = []
    i = 0
    while i < len(s):
        j = i
        while j < len(s) and s[j] == s[i]:
            j += 1
        out.append(f"{s[i]}{j - i}")
        i = j
    return "".join(out)


def to_roman(n):
    symbols = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
               (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
    out = []
    for value, symbol in symbols:
        while n >= value:
            out.append(symbol)
            n -= value
    return "".join(out)


def is_balanced(s):
    pairs = {")": "(", "]": "[", "}": "{"}
    stack = []
    for ch in s:
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack


def flatten_once(lists):
    out = []
    for inner in lists:
        out.extend(inner)
    return out


def word_frequency(text):
    counts: dict = {}
    for word in text.lower().split():
        counts[word] = counts.get(word, 0) + 1
    return counts


def merge_sorted(a, b):
    out = []
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i] <= b[j]:
            out.append(a[i])
            i += 1
        else:
            out.append(b[j])
            j += 1
    return out + a[i:] + b[j:]


def caesar_cipher(text, shift):
    out = []
    for ch in text:
        if "a" <= ch <= "z":
            out.append(chr((ord(ch) - ord("a") + shift) % 26 + ord("a")))
        elif "A" <= ch <= "Z":
            out.append(chr((ord(ch) - ord("A") + shift) % 26 + ord("A")))
        else:
            out.append(ch)
    return "".join(out)


def remove_duplicates(items):
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def is_anagram(a, b):
    return sorted(a.replace(" ", "").lower()) == sorted(b.replace(" ", "").lower())


def chunk(items, size):
    return [items[i:i + size] for i in range(0, len(items), size)]


# ==== eval_tasks_plain.jsonl: plain sentences, no example ====

# ---- trivial ----


def is_negative(n):
    return n < 0


def cube(n):
    return n * n * n


def first_char(s):
    return s[:1]


def absolute_difference(a, b):
    return abs(a - b)


def join_words(words):
    return " ".join(words)


# ---- easy ----


def digits_only(s):
    return "".join(ch for ch in s if ch in "0123456789")


def is_leap_year(year):
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def product_of_list(nums):
    result = 1
    for n in nums:
        result *= n
    return result


def count_positive(nums):
    return sum(1 for n in nums if n > 0)


def capitalize_words(s):
    return " ".join(word[:1].upper() + word[1:].lower() for word in s.split(" "))


def fibonacci(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


# ---- harder ----


def to_binary(n):
    if n == 0:
        return "0"
    bits = []
    while n:
        bits.append(str(n % 2))
        n //= 2
    return "".join(reversed(bits))


def longest_word(sentence):
    best = ""
    for word in sentence.split():
        if len(word) > len(best):
            best = word
    return best


def rotate_right(items, k):
    if not items:
        return []
    k %= len(items)
    return items[len(items) - k:] + items[:len(items) - k]


def transpose(matrix):
    if not matrix:
        return []
    return [[row[i] for row in matrix] for i in range(len(matrix[0]))]


def summarize_ranges(nums):
    parts = []
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        parts.append(str(nums[i]) if i == j else f"{nums[i]}-{nums[j]}")
        i = j + 1
    return ",".join(parts)


# ==== eval_tasks_plain.jsonl: docstring tasks (HumanEval-like) ====


def sum_of_squares(nums):
    return sum(n * n for n in nums)


def alternate_case(s):
    return "".join(ch.upper() if i % 2 == 0 else ch.lower() for i, ch in enumerate(s))


def max_profit(prices):
    best = 0
    low = None
    for price in prices:
        if low is None or price < low:
            low = price
        elif price - low > best:
            best = price - low
    return best


def group_by_length(words):
    groups: dict = {}
    for word in words:
        groups.setdefault(len(word), []).append(word)
    return groups
