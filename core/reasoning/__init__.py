"""Reasoning & tools: chain of thought, PAL with a sandbox, and ReAct over the lab's documents.

``tasks``: the arithmetic word problems and two-hop questions, and how answers are read and scored.
``llm``: the model as the methods see it (render, batched greedy completion, k samples); a fake can stand in.
``cot``: direct answers, zero-shot and few-shot chain of thought, self-consistency.
``sandbox`` (+ ``confine``, its launcher): model-written programs run in Monty in a confined child process.
``pal``: the model writes a program, the sandbox runs it. ``react``: thought, action, observation, with tools.
``methods``: the methods by name for both kinds of task. ``experiment``: accuracy per method × model, in the background.
"""
