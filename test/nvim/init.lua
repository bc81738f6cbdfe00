-- Headless Neovim (0.7.2 API: vim.lsp.start_client + buf_attach_client) as a real LSP client of
-- dist/server.js. Driven by test/nvim.test.ts through environment variables:
--   LENS_NODE, LENS_SERVER  the node binary and the bundled server
--   LENS_ROOT               the workspace folder (a copy of a fixture project)
--   LENS_OUT                where to write the JSON result
--   LENS_FIX                Lua pattern of the quick fix title to apply
-- The edited buffer is the file given on the command line. Exits 0 on success, non-zero (cq)
-- on any failure, always after writing LENS_OUT.

local result = { steps = {} }
local out_path = os.getenv('LENS_OUT')

local function write_result()
  local f = assert(io.open(out_path, 'w'))
  f:write(vim.fn.json_encode(result))
  f:close()
end

local function step(name)
  table.insert(result.steps, name)
end

local function lsp_diagnostics(bufnr)
  local out = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    local lsp = (d.user_data and d.user_data.lsp) or {}
    table.insert(out, {
      lnum = d.lnum,
      col = d.col,
      severity = d.severity,
      message = d.message,
      source = d.source,
      code = d.code or lsp.code,
      href = lsp.codeDescription and lsp.codeDescription.href or vim.NIL,
    })
  end
  table.sort(out, function(a, b) return a.lnum < b.lnum end)
  return out
end

local function run()
  local root = os.getenv('LENS_ROOT')
  local bufnr = vim.api.nvim_get_current_buf()
  local client_id = vim.lsp.start_client({
    name = 'fastapi-lens',
    cmd = { os.getenv('LENS_NODE') or 'node', os.getenv('LENS_SERVER'), '--stdio' },
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = 'fixture' } },
    settings = { fastapiLens = { diagnostics = { scope = 'openFiles' } } },
  })
  assert(client_id, 'the client did not start')
  vim.lsp.buf_attach_client(bufnr, client_id)
  step('attached')

  -- 1. Diagnostics.
  local ok = vim.wait(20000, function() return #vim.diagnostic.get(bufnr) > 0 end, 20)
  assert(ok, 'no diagnostics within 20 s')
  result.diagnostics = lsp_diagnostics(bufnr)
  step('diagnostics')

  -- 2. Hover on the last diagnostic's line (a route decorator).
  local first = nil
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    if first == nil or d.lnum > first.lnum then first = d end
  end
  local uri = vim.uri_from_bufnr(bufnr)
  local hover = vim.lsp.buf_request_sync(bufnr, 'textDocument/hover', {
    textDocument = { uri = uri },
    position = { line = first.lnum, character = 2 },
  }, 5000)
  assert(hover and hover[client_id] and hover[client_id].result, 'no hover')
  result.hover = hover[client_id].result.contents.value
  step('hover')

  -- 3. Code actions for that diagnostic, then apply the requested quick fix.
  local line_diags = vim.lsp.diagnostic.get_line_diagnostics(bufnr, first.lnum)
  local actions = vim.lsp.buf_request_sync(bufnr, 'textDocument/codeAction', {
    textDocument = { uri = uri },
    range = {
      start = { line = first.lnum, character = 0 },
      ['end'] = { line = first.lnum, character = 0 },
    },
    context = { diagnostics = line_diags },
  }, 5000)
  assert(actions and actions[client_id] and actions[client_id].result, 'no code actions')
  result.actions = {}
  local chosen = nil
  for _, a in ipairs(actions[client_id].result) do
    table.insert(result.actions, a.title)
    if chosen == nil and a.edit and string.find(a.title, os.getenv('LENS_FIX')) then chosen = a end
  end
  assert(chosen, 'no code action matches ' .. os.getenv('LENS_FIX'))
  result.applied = chosen.title
  vim.lsp.util.apply_workspace_edit(chosen.edit, 'utf-16')
  result.after_text = table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), '\n') .. '\n'
  step('applied')

  -- 4. The server re-analyses the edited buffer: that finding is gone.
  local before = #result.diagnostics
  ok = vim.wait(20000, function() return #vim.diagnostic.get(bufnr) < before end, 20)
  assert(ok, 'diagnostics did not update after the fix')
  result.after = lsp_diagnostics(bufnr)
  step('republished')

  vim.lsp.stop_client(client_id)
  vim.wait(2000, function() return vim.lsp.get_client_by_id(client_id) == nil end, 20)
end

vim.api.nvim_create_autocmd('VimEnter', {
  once = true,
  callback = function()
    local ok, err = pcall(run)
    if not ok then
      result.error = tostring(err)
      write_result()
      vim.cmd('cq 1')
      return
    end
    result.ok = true
    write_result()
    vim.cmd('qa!')
  end,
})
