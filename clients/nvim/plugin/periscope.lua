if vim.g.loaded_periscope or vim.fn.has('nvim-0.7') ~= 1 then return end
vim.g.loaded_periscope = 1

vim.api.nvim_create_user_command('Periscope', function(opts)
  require('periscope').open(opts.args)
end, {
  nargs = '*',
  complete = function(arglead) return require('periscope').complete(arglead) end,
  desc = 'Open the Periscope panel (processes, processes-by-name, hosts); :Periscope diff 1h lists the changes since then',
})

vim.api.nvim_create_user_command('PeriscopeClose', function()
  require('periscope').close_all()
end, { desc = 'Close every Periscope panel and the daemon connection' })

vim.api.nvim_create_autocmd('VimLeavePre', {
  group = vim.api.nvim_create_augroup('periscope_exit', { clear = true }),
  callback = function()
    if package.loaded['periscope.client'] then require('periscope.client').stop() end
  end,
})
