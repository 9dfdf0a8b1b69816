<%!
from flask_versioning._alembic.layout import render_user_template
%>${render_user_template(context)}