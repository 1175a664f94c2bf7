# Deploy-time check of a Python function, run by the daemon in a sandbox (never in its own
# process): compile the source (syntax errors with their line) and look for a top-level
# binding of the handler, without running any of the function's code.
# Usage: python3 -I -S check.py <dir> <file> <handler>; prints one JSON object on stdout.
import ast
import json
import os
import sys

DYNAMIC = ('globals()', 'exec(', 'setattr(', '__dict__', 'locals()')


def bound(body):
    names, star = set(), False
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                names |= {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import):
            names |= {a.asname or a.name.split('.')[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            for a in node.names:
                if a.name == '*':
                    star = True
                else:
                    names.add(a.asname or a.name)
        # Bindings inside top-level if/try/with/for blocks are module globals too.
        for field in ('body', 'orelse', 'finalbody'):
            sub = getattr(node, field, None)
            if isinstance(sub, list) and sub and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                n, s = bound(sub)
                names |= n
                star = star or s
        for h in getattr(node, 'handlers', []) or []:
            n, s = bound(h.body)
            names |= n
            star = star or s
    # Walrus assignments at module level bind globals too.
    return names, star


def main():
    directory, file, handler = sys.argv[1], sys.argv[2], sys.argv[3] or 'handle'
    path = os.path.join(directory, file)
    with open(path, 'rb') as f:
        source = f.read()
    try:
        tree = compile(source, file, 'exec', ast.PyCF_ONLY_AST, dont_inherit=True)
        compile(tree, file, 'exec', dont_inherit=True)
    except SyntaxError as e:
        text = (e.text or '').rstrip('\n')
        return {'ok': False, 'kind': type(e).__name__, 'message': e.msg, 'line': e.lineno, 'column': e.offset, 'text': text[:200]}
    except ValueError as e:  # e.g. source with a NUL byte
        return {'ok': False, 'kind': 'ValueError', 'message': str(e), 'line': None}
    names, star = bound(tree.body)
    walrus = {n.target.id for n in ast.walk(tree) if isinstance(n, ast.NamedExpr) and isinstance(n.target, ast.Name)}
    dynamic = star or any(d.encode() in source for d in DYNAMIC)
    if handler not in names and handler not in walrus and not dynamic:
        return {'ok': False, 'kind': 'HandlerNotFound', 'message': '%s defines no top-level %r (def %s(request): ...)' % (file, handler, handler), 'line': None}
    return {'ok': True}


if __name__ == '__main__':
    sys.stdout.write(json.dumps(main()) + '\n')
