// The function's code in CodeMirror 6: Python or JavaScript highlighting, a readable monospace
// theme, Tab indents (Esc then Tab moves focus on, for keyboard users), Mod-s saves.
import { javascript } from '@codemirror/lang-javascript';
import { python } from '@codemirror/lang-python';
import { Compartment, EditorState, Prec } from '@codemirror/state';
import { indentWithTab, temporarilySetTabFocusMode } from '@codemirror/commands';
import { basicSetup, EditorView } from 'codemirror';
import { keymap } from '@codemirror/view';
import type { JSX } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { CSP_NONCE } from '../csp';

export interface CodeEditorProps {
  /** The text to show at first, and again whenever `revision` changes. */
  value: string;
  /** Bumped by the parent when the text is replaced from outside (a template, a deploy, a rollback). */
  revision: number;
  language: 'python' | 'node';
  onChange: (code: string) => void;
  onSave?: () => void;
  label: string;
  /** lg: the function page; md: the new-function page (both shorter on a phone). */
  size?: 'md' | 'lg';
}

const theme = EditorView.theme({
  '&': { fontSize: '13.5px', backgroundColor: '#fbfcfe', height: '100%' },
  '.cm-content': { fontFamily: 'var(--mono)', padding: '10px 0' },
  '.cm-gutters': { backgroundColor: '#f4f6fa', color: '#94a3b8', borderRight: '1px solid #e5e8ef', fontFamily: 'var(--mono)' },
  '.cm-activeLine': { backgroundColor: '#eef2ff80' },
  '.cm-activeLineGutter': { backgroundColor: '#e0e7ff', color: '#3730a3' },
  '&.cm-focused': { outline: 'none' },
  '.cm-scroller': { lineHeight: '1.6' },
});

export function CodeEditor({ value, revision, language, onChange, onSave, label, size = 'md' }: CodeEditorProps): JSX.Element {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const lang = useRef(new Compartment());
  // The latest callbacks, without rebuilding the editor when the parent re-renders.
  const cb = useRef({ onChange, onSave });
  cb.current = { onChange, onSave };

  useEffect(() => {
    const v = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: value,
        extensions: [
          basicSetup,
          keymap.of([indentWithTab]),
          Prec.high(
            keymap.of([
              {
                key: 'Mod-s',
                preventDefault: true,
                run: () => {
                  cb.current.onSave?.();
                  return true;
                },
              },
              {
                key: 'Escape',
                run: (ev) => {
                  temporarilySetTabFocusMode(ev);
                  return false;
                },
              },
            ]),
          ),
          lang.current.of(language === 'python' ? python() : javascript()),
          theme,
          EditorView.cspNonce.of(CSP_NONCE),
          EditorView.contentAttributes.of({ 'aria-label': label }),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) cb.current.onChange(u.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = v;
    return () => {
      v.destroy();
      view.current = null;
    };
  }, []);

  // Text from outside (a template chosen, a version deployed or rolled back) replaces the
  // editor's. Only then: `value` also echoes what the user typed, and a render of an older
  // echo would otherwise overwrite newer typing (and trip CodeMirror's DOM observer mid-input).
  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== value) v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value } });
  }, [revision]);

  useEffect(() => {
    view.current?.dispatch({ effects: lang.current.reconfigure(language === 'python' ? python() : javascript()) });
  }, [language]);

  return (
    <div class="editor-wrap">
      <div class={`editor editor-${size}`} ref={host} data-language={language} />
      <div class="editor-hint muted small">
        {language === 'python' ? 'Python' : 'JavaScript'} · Tab indents · Esc then Tab leaves the editor{onSave ? ' · Ctrl+S deploys' : ''}
      </div>
    </div>
  );
}
