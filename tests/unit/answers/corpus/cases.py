"""Hand-transcribed regression cases: other projects' published examples and issue 17's failure patterns.

Each row is ``(response, gold, expected, category, ref)``; the source is the table's name. Expected
verdicts of published examples are the project's own (its test asserts or the example's stated
intent); the issue-17 rows are the failure patterns reported against this grader, each written
as a real chat model writes it in answer to the project's "Final Answer: X" prompt, with the
verdict a careful human grader gives. ``ungradable`` means the response commits to no single
answer (a placeholder, a hedge, nothing).
"""

from __future__ import annotations

C, I, U = "correct", "incorrect", "ungradable"

QWEN_REF = "QwenLM/Qwen2.5-Math@a45202bd:evaluation/grader.py:351-389 (_test_math_equal examples)"
# (prediction, gold, expected): the pairs of Qwen2.5-Math's grader self-test; its grader calls each equal
# except the ones whose prediction is visibly a different value ("(+5)(b+2)" vs "(a+5)(b+2)", ...).
# Left out: "\\frac{100}{3}" vs "33.3" and a pmatrix of long decimals vs 3-digit ones (rounded golds,
# whose verdict depends on a tolerance the example does not state).
QWEN25_MATH = [
    ("(1,4.5)", "(1,\\frac{9}{2})", C),
    ("\\frac{x}{7}+\\frac{2}{7}", "\\frac{x+2}{7}", C),
    ("\\sec^2(y)", "\\tan^2(y)+1", C),
    (
        "\\begin{pmatrix}-\\frac{7}{4}&-2\\\\4&\\frac{1}{4}\\end{pmatrix}",
        "(\\begin{pmatrix}-\\frac{7}{4}&-2\\\\4&\\frac{1}{4}\\\\\\end{pmatrix})",
        C,
    ),
    ("-34x-45y+20z-100=0", "34x+45y-20z+100=0", C),
    (
        "\\frac{\\sqrt{\\sqrt{11}+\\sqrt{194}}}{2\\sqrt{33}+15}",
        "\\frac{\\sqrt{\\sqrt{11}+\\sqrt{194}}}{15+2\\sqrt{33}}",
        C,
    ),
    ("(+5)(b+2)", "(a+5)(b+2)", I),
    ("\\frac{1+\\sqrt{5}}{2}", "2", I),
    ("\\frac{34}{16}+\\frac{\\sqrt{1358}}{16}", "4", I),
    ("1", "1\\sqrt{19}", I),
    ("x+1", "x+2n+1", I),
]

LM_EVAL_REF = "EleutherAI/lm-evaluation-harness@{commit}:lm_eval/tasks/gsm8k/{file}"
# GSM8K chain-of-thought few-shot targets (each ends in the format its strict-match filter reads) and
# the answer the filter must extract; gsm8k.yaml's "#### N" target format; a few completions whose
# verdict follows from the filters' documented semantics (thousands commas and "$" are ignored).
LM_EVAL_GSM8K = [
    (("There are 15 trees originally. Then there were 21 trees after some more were planted. So there must "
     "have been 21 - 15 = 6. The answer is 6."), "6", C, "gsm8k-cot.yaml"),
    ("There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5. The answer is 5.", "5", C, "gsm8k-cot.yaml"),
    (("Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = 74. After eating "
     "35, they had 74 - 35 = 39. The answer is 39."), "39", C, "gsm8k-cot.yaml"),
    (("Jason started with 20 lollipops. Then he had 12 after giving some to Denny. So he gave Denny 20 - 12 "
     "= 8. The answer is 8."), "8", C, "gsm8k-cot.yaml"),
    (("Shawn started with 5 toys. If he got 2 toys each from his mom and dad, then that is 4 more toys. "
     "5 + 4 = 9. The answer is 9."), "9", C, "gsm8k-cot.yaml"),
    (("There were originally 9 computers. For each of 4 days, 5 more computers were added. So 5 * 4 = 20 "
     "computers were added. 9 + 20 is 29. The answer is 29."), "29", C, "gsm8k-cot.yaml"),
    (("Michael started with 58 golf balls. After losing 23 on tuesday, he had 58 - 23 = 35. After losing 2 "
     "more, he had 35 - 2 = 33 golf balls. The answer is 33."), "33", C, "gsm8k-cot.yaml"),
    (("Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she has 23 - 15 "
     "dollars left. 23 - 15 is 8. The answer is 8."), "8", C, "gsm8k-cot.yaml"),
    (("There are 15 trees originally. Then there were 21 trees after some more were planted. So there must "
     "have been 21 - 15 = 6. The final answer is 6"), "6", C, "gsm8k-cot-llama.yaml"),
    (("Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she has 23 - 15 "
     "dollars left. 23 - 15 is 8. The final answer is 8"), "8", C, "gsm8k-cot-llama.yaml"),
    (("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether "
     "in April and May.\n#### 72"), "72", C, "gsm8k.yaml"),
    (("Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.\nWorking 50 minutes, she earned 0.2 x 50 = "
     "$<<0.2*50=10>>10.\n#### 10"), "10", C, "gsm8k.yaml"),
    ("The total is 1,200 + 300 = 1,500 dollars.\n#### 1,500", "1500", C, "gsm8k.yaml"),
    ("She pays 3 * $12 = $36. The answer is $36.", "36", C, "gsm8k-cot.yaml"),
    ("He had 10 and gave away 4, so 10 - 4 = 6 remain. The answer is 6.", "7", I, "gsm8k-cot.yaml"),
    ("#### 1,499", "1500", I, "gsm8k.yaml"),
    ("So the total is 14 + 9 = 23 apples.\n#### -23", "23", I, "gsm8k.yaml"),
]

VERL_REF = "volcengine/verl@{commit}:tests/utils/reward_score/test_sandbox_on_cpu.py:22-31 (prime_math answers/gts)"
VERL = [
    (
        "\\begin{bmatrix}\n -7 & 6 & -8 \\\\\n 11 & -9 & 12 \\\\\n 15 & -16 & 19 \n \\end{bmatrix}",
        "\\begin{pmatrix}\n -7 & 6 & -8 \\\\\n 11 & -9 & 12 \\\\\n 15 & -16 & 19\n \\end{pmatrix}",
        C,
    ),
    ("\\frac{\\sqrt{505}}{7}", "\\frac{\\sqrt{505}}{7}", C),
    ("x^2 + y^2 + 4x - 6y + 13", "(x + 2)^2 + (y - 3)^2 ", C),
]
VERL_GSM8K_REF = "volcengine/verl@{commit}:tests/interactions/test_gsm8k_interaction.py:80-136 (gsm8k rewards)"
VERL_GSM8K = [("#### 42", "42", C), ("42", "42", C), ("24", "42", I)]

MV_EXAMPLES_REF = "huggingface/Math-Verify@5d148cfaaf99:examples/model_outputs.csv:{line}"
# The example model outputs shipped with Math-Verify; each gold is the answer the output states.
MV_EXAMPLES = [
    ("so that x == 1 or x == 2, thus the result is $2*\\pi*r$", "$2*\\pi*r$", C),
    ("The answer is $$\\sin(x)$$", "$$\\sin(x)$$", C),
    ("After solving, we get $1/2$", "$1/2$", C),
    ("The final result is $$(a + b)^2$$", "$(a + b)^2$", C),
    ("Therefore, $$3!$$", "$3!$", C),
    ("The point coordinates are $(1,2)$", "$(1,2)$", C),
]

ISSUE_REF = "agentark issue 17, failure pattern {n}"
# (response, gold, expected, pattern number)
ISSUE_PATTERNS = [
    # 1. markdown emphasis
    ("Janet sells 16 - 3 - 4 = 9 eggs at $2 each, so 9 * 2 = 18.\n\n**Final Answer:** 18", "18", C, 1),
    ("Janet sells 9 eggs for $2 each.\n\nFinal Answer: **260**", "260", C, 1),
    ("She needs 2 * 3 = 6 bolts.\n\n**Final Answer: 6**", "6", C, 1),
    ("He runs 3 * 60 = 180 m.\n\n**Final Answer**: **180**", "180", C, 1),
    ("Total: 5 + 7 = 12.\n\n**Final Answer:** 12", "13", I, 1),
    ("It costs 4 * 5 = 20.\n\n### Final Answer\n**20**", "20", C, 1),
    ("The area is 3 ** 2 = 9.\n\nFinal Answer: __9__", "9", C, 1),
    # 2. "Final Answer:" then a blank line
    ("Adding the two amounts: 50 + 20 = 70.\n\nFinal Answer:\n\n70", "70", C, 2),
    ("The remainder is 100 - 64 = 36.\n\nFinal Answer:\n\n$36$", "36", C, 2),
    ("So he walks 4 * 2 = 8 miles.\n\n**Final Answer:**\n\n8 miles", "8", C, 2),
    ("So she has 30 - 12 = 18 left.\n\nFinal Answer:\n\n18", "20", I, 2),
    # 3. a sentence after "Final Answer:" (the Minerva format and free prose)
    ("16 - 3 - 4 = 9 and 9 * 2 = 18.\nFinal Answer: The final answer is 18. I hope it is correct.", "18", C, 3),
    ("16 - 3 - 4 = 9 eggs are sold at $2.\nFinal Answer: Janet makes $18 every day.", "18", C, 3),
    ("Final Answer: The final answer is $\\frac{3}{4}$. I hope it is correct.", "0.75", C, 3),
    ("Final Answer: She will have 35 marbles left after giving 5 away.", "35", C, 3),
    ("Final Answer: The train travels 120 miles.", "120", C, 3),
    ("Final Answer: The final answer is 17. I hope it is correct.", "18", I, 3),
    ("Final Answer: Janet makes $16 every day.", "18", I, 3),
    # 4. dollar signs that are currency, not LaTeX delimiters
    ("She sells 9 eggs.\nFinal Answer: 9 * $2 = $18", "18", C, 4),
    ("Final Answer: $\\$18$", "18", C, 4),
    ("Each ticket is $5 and she buys 4, so she pays $20.\nFinal Answer: $20", "20", C, 4),
    ("Final Answer: $1,250.50", "1250.5", C, 4),
    ("The shirt costs $15 and the pants $25.\nFinal Answer: $40 in total", "40", C, 4),
    ("Final Answer: 9 * $2 = $18", "9", I, 4),
    ("Final Answer: $\\$17$", "18", I, 4),
    # 5. debate replies that quote other agents after the agent's own final answer
    ("I re-checked: 16 - 7 = 9 eggs, 9 * 2 = 18.\nFinal Answer: 18\n\nAgent 2's final answer of 20 is wrong.",
     "18", C, 5),
    ("Final Answer: 18\n\nAgent 1 said 20 and Agent 3 said 16; both made arithmetic slips.", "18", C, 5),
    ("My answer stays the same.\n\nFinal Answer: 42\n\nNote: Agent 2's Final Answer: 40 missed the tax.",
     "42", C, 5),
    ("Final Answer: 20\n\nAgent 2's final answer of 18 is wrong.", "18", I, 5),
    ("Agent 1 got 12 and agent 2 got 15. Checking: 3 * 5 = 15, so agent 2 is right.\n\nFinal Answer: 15",
     "15", C, 5),
    ("Final Answer: 7\n\n(Agent 3 answered 9, which double-counts Monday.)", "7", C, 5),
    ("Final Answer: 7\n\n(Agent 3 answered 9, which double-counts Monday.)", "9", I, 5),
    ("I re-checked everyone's work: 9 * 2 = 18.\nFinal Answer: I agree with Agent 1: 18", "18", C, 5),
    ("Checking both: 9 * 2 = 18, so I agree with Agent 3.", "18", C, 5),
    ("Checking both: 9 * 2 = 18, so I agree with Agent 3.", "3", I, 5),
    ("I agree with Agent 2 that the answer is 18.", "18", C, 5),
    ("Final Answer: 18\n\nAgent 3 said the answer is 20, but they added Monday twice.", "18", C, 5),
    # 6. number formats
    ("Final Answer: $11,\\! 111,\\! 111,\\! 100$", "11111111100", C, 6),
    ("Final Answer: 37,500!", "37500", C, 6),
    ("Final Answer: 70 000", "70000", C, 6),
    ("Final Answer: 18 (dollars)", "18", C, 6),
    ("Final Answer: 45 (minutes)", "45", C, 6),
    ("Final Answer: 1,000,000", "1000000", C, 6),
    ("Final Answer: 2.50", "2.5", C, 6),
    ("Final Answer: 37,501!", "37500", I, 6),
    ("Final Answer: 70 001", "70000", I, 6),
    ("Final Answer: 12.5%", "12.5", C, 6),
    # 7. the last-number fallback on unanchored LaTeX
    ("The point coordinates are $(1,2)$", "2", I, 7),
    ("The point coordinates are $(1,2)$", "(1,2)", C, 7),
    ("So the interval is $[0, 5]$.", "5", I, 7),
    ("The roots are $x = 3$ and $x = -3$, so $x^2 = 9$.", "3", I, 7),
    ("The vertex is at $(2, -1)$.", "-1", I, 7),
    # 8. several boxes, matrices, text answers
    ("The solutions are $\\boxed{-2} \\quad \\text{and} \\quad \\boxed{1}$", "1,-2", C, 8),
    ("So $x = \\boxed{3}$ or $x = \\boxed{-3}$.", "\\pm 3", C, 8),
    ("The solutions are $\\boxed{-2} \\quad \\text{and} \\quad \\boxed{1}$", "1,2", I, 8),
    ("$\\boxed{\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}}$", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", C, 8),
    ("$\\boxed{\\begin{pmatrix} 1 & 2 \\\\ 3 & 5 \\end{pmatrix}}$", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", I, 8),
    ("The function is even plus odd parts... it is $\\boxed{\\text{odd}}$.", "\\text{odd}", C, 8),
    ("So the function is $\\boxed{\\text{even}}$.", "\\text{odd}", I, 8),
    ("The answer is $\\boxed{\\text{(C)}}$", "\\text{(C)}", C, 8),
    # 10. unit-word runs after a number (the regex that backtracked)
    ("The answer is 1 cm" + " cm" * 23 + "!", "1", C, 10),
    ("The answer is 1 cm" + " cm" * 200 + "!", "1", C, 10),
    ("Final Answer: 5 meters meters meters", "5", C, 10),
    ("Final Answer: 5 hours" + " hours" * 40 + "?", "6", I, 10),
    # the format placeholder and expressions instead of values
    ("Let the price be X.\nFinal Answer: X", "10", U, 11),
    ("Final Answer: X", "10", U, 11),
    ("Final Answer: 60 x X = 60 * X = 60 * 10 = 600", "600", C, 11),
    ("Final Answer: 60 x X = 60 * X = 60 * 10 = 600", "60", I, 11),
    ("Final Answer: 3 + 4 = 7", "7", C, 11),
    ("Final Answer: 3 + 4 = 7", "3", I, 11),
    ("Final Answer: [answer]", "10", U, 11),
    ("Final Answer: <answer>", "10", U, 11),
    # 12. a reply cut off mid-sentence: a number inside a word or a hyphenated adjective is no answer
    ("She waters the plants on a 7-day cycle, so over the month she", "7", U, 12),
    ("Each box holds a dozen eggs and the 3-pack costs", "3", U, 12),
    ("Each box holds 12 eggs, so 4 boxes hold 48", "48", C, 12),
    # 13. the last anchor says no answer is given: the reply's answer is its earlier own statement
    ("The answer is 90.\n\nI checked the computation again, but the final answer is not provided.", "90", C, 13),
    ("The answer is 90.\n\nI checked the computation again, but the final answer is not provided.", "9", I, 13),
    ("So x = 12.\nThe answer is 12.\nFinal Answer: missing", "12", C, 13),
    ("Final Answer: not provided", "5", U, 13),
    ("Final Answer: The final answer is not given in the problem.", "5", U, 13),
    ("Final Answer: 7 is not given among the options, so I keep 7.", "7", C, 13),
]
ISSUE_CATEGORIES = {
    1: "markdown emphasis",
    2: "blank line after Final Answer",
    3: "sentence after Final Answer",
    4: "currency dollar signs",
    5: "quoted peers",
    6: "number formats",
    7: "unanchored LaTeX",
    8: "boxes, matrices, text",
    10: "unit-word runs",
    11: "placeholder / expression",
    12: "truncated mid-sentence",
    13: "non-answer after an answer",
}

# GSM8K-style chain-of-thought completions in the formats the project's prompt invites (category
# "gsm8k cot"): written as instruct models answer "state your final answer ... as 'Final Answer: X'".
GSM8K_COT = [
    (("Step 1: Janet's ducks lay 16 eggs per day.\nStep 2: She eats 3 and bakes with 4, so 16 - 3 - 4 = 9.\n"
     "Step 3: She sells each for $2, so 9 * $2 = $18.\n\nFinal Answer: 18"), "18", C),
    ("To find the total bolts we add blue and white fiber: 2 + 2/2 = 3 bolts.\n\nFinal Answer: 3", "3", C),
    (("The house cost 80,000 + 50,000 = $130,000. Its value rose by 80,000 * 1.5 = $120,000, so it is worth "
     "$200,000. Profit: 200,000 - 130,000 = $70,000.\n\nFinal Answer: $70,000"), "70000", C),
    (("James runs 3 sprints 3 times a week: 3 * 3 = 9 sprints. Each is 60 meters: 9 * 60 = 540.\n\n"
     "**Final Answer: 540 meters**"), "540", C),
    (("Wendi gives 3 cups per chicken, 20 chickens: 3 * 20 = 60 cups a day. Morning 15 + afternoon 25 = 40.\n"
     "So 60 - 40 = 20 cups.\n\nFinal Answer: 20 cups"), "20", C),
    (("Each glass after the first costs 60% of $5 = $3. 16 glasses: 8 at $5 = $40 and 8 at $3 = $24.\n"
     "Total: $64.\n\nFinal Answer: $64"), "64", C),
    (("Toulouse has 2 * 20 = 40 sheep and Charleston has 4 * 20 = 80. Together 20 + 40 + 80 = 140.\n\n"
     "Final Answer: 140"), "140", C),
    (("Carla downloads 40% of 200 GB = 80 GB in 80/2 = 40 minutes, then restarts: 20 minutes, then 200/2 = "
     "100 minutes.\nTotal: 40 + 20 + 100 = 160 minutes.\n\nFinal Answer: 160 minutes"), "160", C),
    (("John drives 3 hours at 60 mph = 180 miles, then turns around...\nHe ends 45 miles from home.\n\n"
     "Final Answer:\n45"), "45", C),
    (("Eliza works 40 hours at $10 = $400 and 5 overtime hours at $12 = $60.\n"
     "Final Answer: Eliza earns $460 this week."), "460", C),
    (("The program had 60 downloads in month one, 180 in month two and 180 * 0.7 = 126 in month three.\n"
     "60 + 180 + 126 = 366\nFinal Answer: **366**"), "366", C),
    (("Toula buys 3 dozen donuts at $68 = $204, 2 dozen cupcakes at $80 = $160 and 6 dozen cheesecakes at "
     "$55 = $330. Total $694.\n\nFinal Answer: $694"), "694", C),
    (("Carlos earns 7 lemons a year per tree * $1.5 = $10.5; net $10.5 - $3 = $7.5 a year. $90 / 7.5 = 12.\n\n"
     "Final Answer: 12 years"), "13", I),
    ("The total is 20 + 30 = 50.\nFinal Answer: 50", "60", I),
    ("I think the answer is 12, but after checking it is 14.\n\nFinal Answer: 14", "12", I),
    ("Melanie sells a third of 80 = 26.67... rounded to 27 to the red house.\nFinal Answer: 27", "26", I),
    ("She has 5 + 8 = 13 apples and eats 3, so 10 remain. So she has 10 apples left.", "10", C),
    ("First, 4 * 6 = 24. Then 24 / 3 = 8 slices each.", "8", C),
    ("The bakery sold 120 cookies and 45 cakes, i.e. 165 items. Each shelf holds 5 items, so 33 shelves.",
     "33", C),
    ("Let me compute: 5 * 7 = 35. Hmm, the question asks for the difference: 35 - 20 = 15.", "35", I),
    ("She buys 2 bags of 3 apples: 2 * 3 = 6.\nFinal Answer: 6 is the number of apples she has.", "6", C),
    ("He reads 12 pages a day for 5 days: 12 * 5 = 60.\nFinal Answer: The number of pages is 60.", "60", C),
]
