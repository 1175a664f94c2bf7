// Starting points for a new function: each runs as is, and shows one thing a handler does.

export interface Template {
  id: string;
  title: string;
  description: string;
  runtime: 'python' | 'node';
  code: string;
  /** What the invoke panel sends first. */
  sample: { method: string; body: string };
}

export const TEMPLATES: Template[] = [
  {
    id: 'python-hello',
    title: 'Hello world',
    description: 'Greets the name in the JSON body and logs a line.',
    runtime: 'python',
    code: `def handle(request):
    data = request.get_json() or {}
    name = data.get("name", "World")
    print(f"greeting {name}")
    return {"message": f"Hello, {name}!"}
`,
    sample: { method: 'POST', body: '{\n  "name": "faasd"\n}' },
  },
  {
    id: 'python-http',
    title: 'HTTP response',
    description: 'Chooses its own status code, headers and body.',
    runtime: 'python',
    code: `import json


def handle(request):
    if request.method != "POST":
        return {"statusCode": 405, "headers": {"Allow": "POST"}, "body": "use POST"}
    return {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json", "X-Handled-By": "faasd"},
        "body": json.dumps({"created": request.get_json(), "path": request.path}),
    }
`,
    sample: { method: 'POST', body: '{\n  "item": "book"\n}' },
  },
  {
    id: 'python-echo',
    title: 'JSON echo',
    description: 'Returns the request: method, path, query and JSON body.',
    runtime: 'python',
    code: `def handle(request):
    return {
        "method": request.method,
        "path": request.path,
        "query": request.query_params,
        "json": request.get_json(),
    }
`,
    sample: { method: 'POST', body: '{\n  "hello": "echo"\n}' },
  },
  {
    id: 'node-hello',
    title: 'Hello world',
    description: 'Greets the name in the JSON body and logs a line.',
    runtime: 'node',
    code: `exports.handler = async (event) => {
  const data = event.json() ?? {};
  const name = data.name ?? 'World';
  console.log(\`greeting \${name}\`);
  return { message: \`Hello, \${name}!\` };
};
`,
    sample: { method: 'POST', body: '{\n  "name": "faasd"\n}' },
  },
  {
    id: 'node-http',
    title: 'HTTP response',
    description: 'Chooses its own status code, headers and body.',
    runtime: 'node',
    code: `exports.handler = async (event) => {
  if (event.method !== 'POST') {
    return { statusCode: 405, headers: { Allow: 'POST' }, body: 'use POST' };
  }
  return {
    statusCode: 201,
    headers: { 'Content-Type': 'application/json', 'X-Handled-By': 'faasd' },
    body: JSON.stringify({ created: event.json(), path: event.path }),
  };
};
`,
    sample: { method: 'POST', body: '{\n  "item": "book"\n}' },
  },
  {
    id: 'node-echo',
    title: 'JSON echo',
    description: 'Returns the request: method, path, query and JSON body.',
    runtime: 'node',
    code: `exports.handler = async (event, context) => ({
  method: event.method,
  path: event.path,
  query: event.query,
  json: event.json(),
  requestId: context.requestId,
});
`,
    sample: { method: 'POST', body: '{\n  "hello": "echo"\n}' },
  },
];
