// Drag the completions into order (best on top), then "Use this order" sends their ids to Python.
// Text is set with textContent: model output is never parsed as HTML.
export default function ({ parentElement, data, setTriggerValue }) {
  const list = parentElement.querySelector("#ranker");
  list.replaceChildren();
  let dragged = null;
  for (const item of data.items) {
    const row = document.createElement("li");
    row.draggable = true;
    row.dataset.id = String(item.id);
    const letter = document.createElement("strong");
    letter.textContent = item.letter;
    const text = document.createElement("span");
    text.textContent = item.text;
    row.append(letter, text);
    row.addEventListener("dragstart", () => { dragged = row; row.classList.add("dragging"); });
    row.addEventListener("dragend", () => { row.classList.remove("dragging"); dragged = null; });
    row.addEventListener("dragover", (event) => {
      event.preventDefault();
      if (!dragged || dragged === row) return;
      const box = row.getBoundingClientRect();
      list.insertBefore(dragged, event.clientY > box.top + box.height / 2 ? row.nextSibling : row);
    });
    list.append(row);
  }
  parentElement.querySelector("#use").onclick = () =>
    setTriggerValue("order", [...list.children].map((row) => Number(row.dataset.id)));
}
