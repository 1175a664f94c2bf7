// The warm-echo baseline as a Cloudflare Worker: the same JSON echo the ceiling and the
// faasd functions run (parse the body, answer it as JSON), served by workerd.
export default {
  async fetch(request) {
    return Response.json(await request.json());
  },
};
