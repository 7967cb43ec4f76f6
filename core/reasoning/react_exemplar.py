"""The worked ReAct episodes shown to the model: two dev questions of two_hop.jsonl (th-008 and th-040), written by
hand with observations shortened from what the tools return on the bundled Lumenfold collection."""

EXEMPLAR = """Question: What are the opening hours of the demo room run by Lumenfold's head of sales?
Thought 1: I need to find who the head of sales is and where they work.
Action 1: search[head of sales]
Observation 1: [people-leadership.md] Maurice Tolland, head of sales. He is based at the Port Aveline office, where he also runs the demo room.
Thought 2: Maurice Tolland runs the demo room at the Port Aveline office. Now I need its opening hours.
Action 2: search[Port Aveline office demo room opening hours]
Observation 2: [offices.md] Port Aveline office. It is home to the sales team. It includes a demo room where customers can see every instrument.
Thought 3: The passage does not give the hours yet. I will look up "open" in this document.
Action 3: lookup[open]
Observation 3: (Result 1 of 2 in offices.md) The demo room is open Tuesday to Saturday, 10:00 to 16:00.
Thought 4: The demo room is open 10:00 to 16:00.
Action 4: finish[10:00 to 16:00, Tuesday to Saturday]

Question: What do a HiveScale H2 and the accessory set that raises it by 12 cm cost together?
Thought 1: I need the accessory set that raises the scale by 12 cm and its price.
Action 1: search[accessory raises HiveScale by 12 cm]
Observation 1: [product-accessories.md] LX-4 leg extender set - €19. Four screw-in legs that raise a HiveScale H2 by 12 cm.
Thought 2: The LX-4 leg extender set costs €19. Now I need the price of the HiveScale H2.
Action 2: search[HiveScale H2 price]
Observation 2: [product-hivescale-h2.md] The HiveScale H2 is Lumenfold's best-selling instrument. It costs €189 (including VAT).
Thought 3: Together they cost 189 + 19.
Action 3: calculate[189 + 19]
Observation 3: 208
Thought 4: Together they cost €208.
Action 4: finish[€208]"""
