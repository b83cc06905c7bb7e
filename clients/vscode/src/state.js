'use strict';
// The state, scope and layout code (state.js, layout.js) is shared with the browser map (`periscope ui`): one copy, in clients/web.
module.exports = Object.assign({}, require('../../web/state.js'), require('../../web/layout.js'));
