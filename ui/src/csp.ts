// The page's Content-Security-Policy nonce, read from this script's own tag while the bundle
// runs (document.currentScript is only set then). CodeMirror puts it on the <style> elements
// it creates; nothing else in the console needs it.
export const CSP_NONCE: string = (document.currentScript as HTMLScriptElement | null)?.nonce ?? '';
