"""Reference solutions for ``eval_tasks.jsonl``: one top-level function per task, named as its entry point.

Each function stands alone (standard library only, imports inside the function, no helpers), so its
source, taken with ``inspect.getsource``, runs as a whole ``solution.py`` in the sandbox.
``tests/test_eval_tasks.py`` checks that every one passes its task's hidden tests and visible example.
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
    counts = {}
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
