"""A hand-written table of graded cases across math, mcq, short and longform.

Every expected status below was written by reasoning about what a careful human grader would
say, not by running the code.
"""

import pytest

from agentark_core.answers import Grade, extract_answer, grade

C, I, U = "correct", "incorrect", "ungradable"
PETS = ("cat", "dog", "mouse", "horse")

MATH = [
    # equivalent
    ("\\boxed{42}", "42", C),
    ("The answer is 42.", "42", C),
    ("#### 42", "42", C),
    ("Final Answer: 42", "42", C),
    ("We compute 6*7 = 42", "42", C),
    ("\\boxed{1,000}", "1000", C),
    ("#### 1,234,567", "1234567", C),
    ("\\boxed{1{,}000}", "1000", C),
    ("\\boxed{\\$18}", "18", C),
    ("The answer is $18 dollars.", "18", C),
    ("#### 18 dollars", "18", C),
    ("\\boxed{5 \\text{ cm}}", "5", C),
    ("\\boxed{12\\text{ meters}}", "12", C),
    ("\\boxed{0.5}", "\\frac{1}{2}", C),
    ("\\boxed{\\frac{1}{2}}", "0.5", C),
    ("\\boxed{\\dfrac{3}{4}}", "0.75", C),
    ("\\boxed{\\tfrac{3}{4}}", "3/4", C),
    ("\\boxed{3/4}", "\\frac{3}{4}", C),
    ("\\boxed{-\\frac{1}{2}}", "-0.5", C),
    ("\\boxed{\\frac12}", "0.5", C),
    ("\\boxed{50\\%}", "50", C),
    ("\\boxed{50\\%}", "0.5", C),
    ("50 percent", "50", C),
    ("\\boxed{2\\sqrt{2}}", "\\sqrt{8}", C),
    ("\\boxed{\\sqrt{2}/2}", "\\frac{\\sqrt{2}}{2}", C),
    ("\\boxed{\\frac{1}{\\sqrt{2}}}", "\\frac{\\sqrt{2}}{2}", C),
    ("\\boxed{(x+1)^2}", "x^2+2x+1", C),
    ("\\boxed{+7}", "7", C),
    ("\\boxed{007}", "7", C),
    ("\\boxed{7.0}", "7", C),
    ("\\boxed{7.50}", "7.5", C),
    ("\\boxed{.5}", "0.5", C),
    ("x = 5", "5", C),
    ("\\boxed{x=5}", "5", C),
    ("\\boxed{90^\\circ}", "90", C),
    ("\\boxed{\\left(1, 2\\right)}", "(1,2)", C),
    ("\\boxed{\\pi}", "\\pi", C),
    ("\\boxed{2\\pi}", "2\\pi", C),
    ("\\boxed{\\frac{\\pi}{2}}", "\\pi/2", C),
    ("\u22123", "-3", C),
    ("\\boxed{-3}", "-3", C),
    ("\\boxed{ 12 }", "12", C),
    ("The final answer is $\\frac{7}{2}$.", "3.5", C),
    ("So the answer is 3.5.", "7/2", C),
    ("\\boxed{10}\n\nI hope this helps", "10", C),
    ("First \\boxed{3}, corrected: \\boxed{4}", "4", C),
    ("\\boxed{\\boxed{5}}", "5", C),
    ("\\boxed{\\frac{1}{2}+\\frac{1}{3}}", "\\frac{5}{6}", C),
    ("\\fbox{12}", "12", C),
    ("so \\boxed 12", "12", C),
    ("$\\$1,500.00$", "1500", C),
    ("\\boxed{2^{10}}", "1024", C),
    ("\\boxed{1.5 \\times 10^3}", "1500", C),
    ("\\boxed{\\frac{6}{8}}", "\\frac{3}{4}", C),
    ("\\boxed{25\\%}", "\\frac{1}{4}", C),
    ("#### 72\n", "72", C),
    ("answer: 12", "12", C),
    ("\\boxed{3 \\text{ apples}}", "3", C),
    ("\\boxed{\\frac{\\sqrt{3}}{3}}", "\\frac{1}{\\sqrt{3}}", C),
    ("\\boxed{x^2 - 1}", "(x-1)(x+1)", C),
    ("\\boxed{0}", "0", C),
    ("\\boxed{-0}", "0", C),
    ("The total cost is 1,250 dollars.", "1250", C),
    ("\\boxed{3.14}", "3.14", C),
    ("\\boxed{e^{-x^2}}", "e^{-x^{2}}", C),
    ("Final Answer: The final answer is $\\boxed{9}$. I hope it is correct.", "9", C),
    ("12", "\\boxed{12}", C),
    # not equivalent
    ("\\boxed{41}", "42", I),
    ("The answer is 43.", "42", I),
    ("#### 1,001", "1000", I),
    ("\\boxed{0.5}", "\\frac{1}{3}", I),
    ("\\boxed{0.333}", "\\frac{1}{3}", I),
    ("\\boxed{-7}", "7", I),
    ("\\boxed{\\frac{2}{3}}", "\\frac{3}{2}", I),
    ("\\boxed{\\sqrt{3}}", "\\sqrt{2}", I),
    ("\\boxed{(x+1)^2}", "x^2+1", I),
    ("\\boxed{2\\pi}", "\\pi", I),
    ("\\boxed{51\\%}", "50", I),
    ("\\boxed{5}", "50", I),
    ("We get 12 then 13", "12", I),
    ("\\boxed{3} ... wait, actually \\boxed{4}", "3", I),
    ("\\boxed{100}", "1000", I),
    ("\\boxed{1.0001}", "1", I),
    ("\\boxed{10\\%}", "1", I),
    ("\\boxed{(1,3)}", "(1,2)", I),
    ("\\boxed{x=4}", "5", I),
    ("\\boxed{2^{11}}", "1024", I),
    ("#### 7.5", "75", I),
    ("\\boxed{1/2}", "2", I),
    ("\\boxed{12 cm}", "13", I),
    ("\\boxed{\\$17}", "18", I),
    ("\\boxed{x}", "5", I),
    ("The answer is 1,000,000.", "100000", I),
    # the rule cannot decide
    ("", "5", U),
    ("I don't know.", "5", U),
    ("\\boxed{9^9^9^9}", "1", U),
    ("\\boxed{10^{10^{10}}}", "5", U),
    ("\\boxed{" + "1" * 5000 + "}", "1", U),
    ("\\boxed{5}", "", U),
    ("\\boxed{1000!}", "1", U),
    ("\\boxed{2^{99999}}", "1", U),
]

MCQ = [
    ("B", "B", C),
    ("(B)", "B", C),
    ("b", "B", C),
    ("B)", "B", C),
    ("Answer: B", "B", C),
    ("The answer is (B).", "B", C),
    ("The answer is B because dogs bark.", "B", C),
    ("\\boxed{B}", "B", C),
    ("\\boxed{\\text{B}}", "B", C),
    ("The answer is dog.", "B", C),
    ("The answer is a dog.", "B", C),
    ("Final Answer: (C)", "C", C),
    ("#### D", "D", C),
    ("I think it's (C) mouse", "C", C),
    ("Answer: A", "A", C),
    ("The correct option is A.", "A", C),
    ("Answer: A. cat", "A", C),
    ("B", "dog", C),
    ("answer: c", "C", C),
    ("The answer is [D].", "D", C),
    ("Horses are big.\nAnswer: D", "D", C),
    ("(a)", "A", C),
    ("a", "A", C),
    ("\\boxed{(B)}", "(B)", C),
    ("Looking at each pet in turn, the one that barks is the dog.", "B", C),
    ("C", "B", I),
    ("The answer is (A).", "B", I),
    ("The answer is a dog.", "A", I),
    ("Answer: cat", "B", I),
    ("\\boxed{D}", "B", I),
    ("The answer is mouse", "B", I),
    ("b", "A", I),
    ("I pick (A) no wait (C)", "A", I),
    ("Answer: A dog", "A", I),
    ("I am not sure.", "B", U),
    ("The answer is a dog or a cat.", "B", U),
    ("F", "B", U),
    ("B", "", U),
    ("", "B", U),
]

SHORT = [
    ("Paris", "Paris", C),
    ("paris", "Paris", C),
    ("The answer is Paris.", "Paris", C),
    ("Final Answer: Paris", "paris", C),
    ("\\boxed{Paris}", "Paris", C),
    ("The Eiffel Tower", "Eiffel Tower", C),
    ("Paris!", "Paris", C),
    ("George Washington", "george washington", C),
    ("#### 12", "12", C),
    ("12.0", "12", C),
    ("1,000", "1000", C),
    ("U.S.A.", "USA", C),
    ("the answer is New York City.", "New York City", C),
    ("Answer: Blue whale", "blue whale", C),
    ("  mitochondria  ", "Mitochondria", C),
    ("Final answer: an apple", "apple", C),
    ("-3.5", "-3.5", C),
    ("3.50", "3.5", C),
    ("London", "Paris", I),
    ("The answer is Lyon.", "Paris", I),
    ("Paris, France", "Paris", I),
    ("35", "3.5", I),
    ("12", "13", I),
    ("George Bush", "George Washington", I),
    ("-3", "3", I),
    ("Final Answer: blue", "red", I),
    ("", "Paris", U),
    (
        "Let me think.\n" + "The capital city has a long history and many museums. " * 5 + "\nIt is lovely.",
        "Paris",
        U,
    ),
    ("Paris", "", U),
    ("!!!", "Paris", U),
]

LONGFORM = [
    ("Photosynthesis turns light into chemical energy.", "Plants convert light to energy.", U),
    ("", "anything", U),
]

TABLE = (
    [(p, g, "math", (), s) for p, g, s in MATH]
    + [(p, g, "mcq", PETS, s) for p, g, s in MCQ]
    + [(p, g, "short", (), s) for p, g, s in SHORT]
    + [(p, g, "longform", (), s) for p, g, s in LONGFORM]
)


def test_table_is_large_and_balanced():
    assert len(TABLE) >= 150
    statuses = [case[-1] for case in TABLE]
    assert statuses.count(C) >= 50 and statuses.count(I) >= 40 and statuses.count(U) >= 15


@pytest.mark.parametrize("prediction,gt,task_type,choices,expected", TABLE)
def test_grade_table(prediction, gt, task_type, choices, expected):
    result = grade(prediction, gt, task_type, choices)
    assert isinstance(result, Grade)
    assert result.status == expected, result
    assert result.correct == (expected == C)


DECIDED = [case for case in TABLE if case[-1] != U and case[2] != "longform"]


@pytest.mark.parametrize("prediction,gt,task_type,choices,expected", DECIDED)
def test_grading_an_extracted_answer_gives_the_same_verdict(prediction, gt, task_type, choices, expected):
    extracted = extract_answer(prediction, task_type, choices)
    assert extracted is not None
    assert grade(extracted, gt, task_type, choices).status == expected
    assert extract_answer(extracted, task_type, choices) == extracted
