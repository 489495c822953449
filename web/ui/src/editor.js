// The PromQL editor: CodeMirror 6 with codemirror-promql's highlighting, linting and
// completion (metric names, labels and values from our own API).
import { EditorView, keymap, placeholder, drawSelection, highlightSpecialChars } from '@codemirror/view';
import { EditorState, Prec } from '@codemirror/state';
import { defaultKeymap, history, historyKeymap, insertNewlineAndIndent } from '@codemirror/commands';
import { autocompletion, closeBrackets, closeBracketsKeymap } from '@codemirror/autocomplete';
import { bracketMatching, HighlightStyle, indentOnInput, syntaxHighlighting } from '@codemirror/language';
import { lintKeymap } from '@codemirror/lint';
import { tags } from '@lezer/highlight';
import { PromQLExtension } from '@prometheus-io/codemirror-promql';

const highlight = HighlightStyle.define([
  { tag: tags.number, color: '#09885a' },
  { tag: tags.string, color: '#a31515' },
  { tag: tags.keyword, color: '#008080', fontWeight: 'bold' },
  { tag: tags.function(tags.variableName), color: '#008080' },
  { tag: tags.labelName, color: '#800000' },
  { tag: tags.variableName, color: '#000080' },
  { tag: tags.operator },
  { tag: tags.modifier, color: '#008080', fontWeight: 'bold' },
  { tag: tags.paren },
  { tag: tags.squareBracket },
  { tag: tags.brace },
  { tag: tags.invalid, color: 'red' },
  { tag: tags.comment, color: '#888', fontStyle: 'italic' },
]);

const theme = EditorView.theme({
  '&': { fontSize: '14px', border: '1px solid #ced4da', borderRadius: '4px', background: '#fff' },
  '&.cm-focused': { outline: 'none', borderColor: '#80bdff', boxShadow: '0 0 0 2px rgba(0,123,255,.2)' },
  '.cm-content': { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace', padding: '6px 0' },
  '.cm-line': { padding: '0 8px', lineHeight: '1.6' },
  '.cm-tooltip.cm-tooltip-autocomplete > ul': { fontFamily: 'ui-monospace, monospace', maxHeight: '16em' },
  '.cm-completionDetail': { color: '#888', fontStyle: 'normal', marginLeft: '1em' },
});

let promql = null;

/** One PromQL language instance per page load, so the metric name cache is shared. */
function promqlExtension() {
  if (!promql) {
    promql = new PromQLExtension().setComplete({
      remote: {
        // The client appends `/api/v1/...`; '.' keeps the request relative to the page.
        url: new URL('.', document.baseURI).href.replace(/\/$/, ''),
        httpMethod: 'GET',
        cache: { maxAge: 60000 },
      },
    });
  }
  return promql.asExtension();
}

/**
 * Creates an editor in `parent` holding `doc`. Enter runs `onExecute` (Shift-Enter adds a
 * line); `onChange` gets the text on every edit. Returns the EditorView.
 */
export function createEditor(parent, doc, { onExecute, onChange }) {
  return new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        highlightSpecialChars(),
        history(),
        drawSelection(),
        indentOnInput(),
        bracketMatching(),
        closeBrackets(),
        autocompletion(),
        syntaxHighlighting(highlight),
        theme,
        placeholder('Expression (press Shift+Enter for newlines)'),
        EditorView.lineWrapping,
        promqlExtension(),
        Prec.high(
          keymap.of([
            { key: 'Enter', run: () => (onExecute(), true) },
            { key: 'Shift-Enter', run: insertNewlineAndIndent },
          ]),
        ),
        keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap, ...lintKeymap]),
        EditorView.updateListener.of((u) => {
          if (u.docChanged && onChange) onChange(u.state.doc.toString());
        }),
      ],
    }),
  });
}
